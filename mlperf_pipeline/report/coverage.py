"""The skillset coverage table: which model types build and run at tiny size, and why not."""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

from mlperf_pipeline.reasons import Status
from mlperf_pipeline.report.markdown import escape_cell

REASON_LIMIT = 160


def coverage_by_family(rows: list[dict]) -> dict[str, dict[str, int]]:
    """family -> {"total", "ok", <reason_code>: n, ...}, families sorted."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        family = row.get("family") or "other"
        counts[family]["total"] += 1
        # Plain-string keys: the counts become JSON metadata.
        key = Status.OK.value if row["status"] == Status.OK else row.get("reason_code") or Status.FAILED.value
        counts[family][key] += 1
    return {family: dict(counts[family]) for family in sorted(counts)}


def failures_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (row["status"] == Status.OK, row.get("family") or "", row["model_type"]))


def format_params(value) -> str:
    if value is None or pd.isna(value):
        return "—"
    value = int(value)
    return f"{value / 1e9:.2f} B" if value >= 1e9 else f"{value / 1e6:.2f} M"


def coverage_table(rows: list[dict], failures_only: bool = False) -> str:
    """Markdown: a summary by family, then one line per type (failures first; only them if asked)."""
    by_family = coverage_by_family(rows)
    ok = sum(row["status"] == Status.OK for row in rows)
    lines = [
        f"**{ok} of {len(rows)} types run at tiny size on cpu ({100 * ok / max(len(rows), 1):.1f}%)**",
        "",
        "| family | ok | total |",
        "|---|---|---|",
    ]
    lines += [
        f"| {escape_cell(family)} | {counts.get(Status.OK, 0)} | {counts['total']} |"
        for family, counts in by_family.items()
    ]
    lines += [
        "",
        "| model type | family | status | reason_code | params tiny | params full | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    listed = [row for row in rows if row["status"] != Status.OK] if failures_only else rows
    for row in failures_first(listed):
        reason = escape_cell((row.get("reason") or "")[:REASON_LIMIT])
        lines.append(
            f"| {escape_cell(row['model_type'])} | {escape_cell(row.get('family') or '')} | {row['status']} | "
            f"{row.get('reason_code') or ''} | {format_params(row.get('params_tiny'))} | {format_params(row.get('params_full'))} | {reason} |"
        )
    return "\n".join(lines)
