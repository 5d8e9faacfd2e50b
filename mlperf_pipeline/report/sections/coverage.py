"""The skillset coverage table: which model types build and run at tiny size, and why not."""

from __future__ import annotations

from mlperf_pipeline.reasons import Status
from mlperf_pipeline.report.blocks import Cell, Section, Text, table
from mlperf_pipeline.report.coverage import coverage_by_family, failures_first, format_params
from mlperf_pipeline.report.frame import STATUS_ORDER, fmt_text

REASON_LIMIT = 300


def status_cell(status: str) -> Cell:
    return Cell(status, f"status-{status if status in STATUS_ORDER else 'other'}")


def _type_row(row: dict) -> list:
    reason = row.get("reason") or ""
    return [
        row["model_type"], row.get("family") or "", status_cell(row["status"]), row.get("reason_code") or "",
        format_params(row.get("params_tiny")), format_params(row.get("params_full")),
        Cell(fmt_text(reason, REASON_LIMIT), title=fmt_text(reason)),
    ]  # fmt: skip


def build(data) -> Section | None:
    rows = list(data.coverage)
    if not rows:
        return None
    ok = sum(row["status"] == Status.OK for row in rows)
    by_family = [
        [family, str(counts.get(Status.OK, 0)), str(counts["total"])]
        for family, counts in coverage_by_family(rows).items()
    ]
    failures = [row for row in rows if row["status"] != Status.OK]
    return Section(
        "coverage",
        "Skillset coverage (tiny size, cpu)",
        (
            Text(f"{ok} of {len(rows)} types run at tiny size on cpu ({100 * ok / len(rows):.1f}%)."),
            table(("family", "ok", "total"), by_family, numeric=(1, 2)),
            Text(f"Every type, failures first ({len(failures)} not ok); the summary lists only the failures."),
            table(
                ("model type", "family", "status", "reason code", "params tiny", "params full", "reason"),
                map(_type_row, failures_first(rows)),
                numeric=(4, 5),
                markdown_rows=len(failures),
            ),
        ),
    )
