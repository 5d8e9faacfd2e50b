"""The report's roofline section: each hardware's latest measured ceilings (`hardware_ceilings`)."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.frame import fmt_int, fmt_number, fmt_text, is_missing
from mlperf_pipeline.report.markdown import markdown_table

_HEADERS = ["hardware", "metric", "dtype", "size", "rate", "95% CI", "processes", "threads", "measured"]


def _giga(value) -> str:
    return "" if is_missing(value) else fmt_number(float(value) / 1e9)


def _size(row: dict) -> str:
    """A matrix side as n × n, an array in MiB."""
    size = row.get("size")
    if is_missing(size):
        return ""
    return f"{int(size)}²" if row["metric"] == "matmul_flops" else f"{int(size) / 2**20:g} MiB"


def ceiling_rows(ceilings: pd.DataFrame | list[dict] | None) -> list[dict[str, str]]:
    """The ceilings formatted for a table, one row per kernel, in G<unit>."""
    if ceilings is None:
        return []
    records = ceilings.to_dict("records") if isinstance(ceilings, pd.DataFrame) else list(ceilings)
    return [
        {
            "hardware": fmt_text(row["hardware"]),
            "metric": fmt_text(row["metric"]),
            "dtype": fmt_text(row["dtype"]),
            "size": _size(row),
            "rate": f"{_giga(row['value'])} G{row['unit']}",
            "ci": f"{_giga(row.get('ci_low'))}–{_giga(row.get('ci_high'))}"
            if not is_missing(row.get("ci_low"))
            else "",
            "processes": fmt_int(row.get("n_processes")),
            "threads": fmt_int(row.get("threads")),
            "measured": fmt_text(row.get("measured_at"))[:19],
        }
        for row in records
    ]


def ceilings_table(rows: list[dict[str, str]]) -> str:
    return markdown_table(_HEADERS, [list(row.values()) for row in rows])
