"""A Markdown summary of benchmark results, for the Dagster UI and `summary.md`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pandas as pd

from mlperf_pipeline.report.frame import (
    RUN_TO_RUN_SIGMA,
    fmt_ci,
    fmt_int,
    fmt_number,
    fmt_text,
    hardware_counts,
    model_types,
    normalise,
    not_measured_rows,
    ok_rows,
    sort_results,
    status_counts,
    with_run_to_run_noise,
)

HEADING = "## mlperf_pipeline benchmark summary"
NO_RESULTS = "_No results yet: nothing has been benchmarked._"
REASON_LIMIT = 120

OK_HEADERS = (
    "model",
    "family",
    "hardware",
    "scenario",
    "batch",
    "seq",
    "dtype",
    "p50 ms",
    "CI 95% ms",
    "run-to-run σ",
    "throughput/s",
    "peak MB",
)
NOT_OK_HEADERS = ("model", "hardware", "size", "batch", "dtype", "status", "reason_code", "reason")

# Characters that would end a table cell or turn a model name into HTML or code.
_MARKDOWN_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "\\<", ">": "\\>", "`": "\\`"})


def escape_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no cell breaks, no raw HTML."""
    return fmt_text(text).translate(_MARKDOWN_ESCAPES)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _joined_counts(pairs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{escape_cell(name)}: {count}" for name, count in pairs)


def _counts_section(frame: pd.DataFrame) -> str:
    n_models = len(model_types(frame))
    return "\n".join(
        [
            f"- **Rows:** {len(frame)} ({n_models} model types)",
            f"- **By status:** {_joined_counts(status_counts(frame))}",
            f"- **By hardware:** {_joined_counts(hardware_counts(frame))}",
        ]
    )


def _ok_row(row: pd.Series) -> list[str]:
    return [
        row["model_type"],
        row["family"],
        row["hardware"],
        row["scenario"],
        fmt_int(row["batch_size"]),
        fmt_int(row["seq_len"]),
        row["dtype"],
        fmt_number(row["latency_ms_p50"]),
        fmt_ci(row["ci95_low_ms"], row["ci95_high_ms"]),
        row[RUN_TO_RUN_SIGMA],
        fmt_number(row["throughput_per_s"]),
        fmt_number(row["peak_memory_mb"]),
    ]


def _not_ok_row(row: pd.Series) -> list[str]:
    return [
        row["model_type"],
        row["hardware"],
        row["size"],
        fmt_int(row["batch_size"]),
        row["dtype"],
        row["status"],
        fmt_text(row["reason_code"]),
        fmt_text(row["reason"], REASON_LIMIT),
    ]


def _limited_table(
    title: str,
    rows: pd.DataFrame,
    headers: Sequence[str],
    to_cells: Callable[[pd.Series], list[str]],
    max_rows: int,
) -> str:
    """A titled table of at most max_rows rows, saying how many were left out."""
    if rows.empty:
        return ""
    shown = sort_results(rows).head(max(max_rows, 0))
    parts = [f"### {title} ({len(rows)})", markdown_table(headers, map(to_cells, _records(shown)))]
    if len(rows) > len(shown):
        parts.append(f"_… {len(rows) - len(shown)} more rows not shown._")
    return "\n\n".join(parts)


def _records(frame: pd.DataFrame) -> Iterable[pd.Series]:
    return (row for _, row in frame.iterrows())


def markdown_summary(df: pd.DataFrame | None, max_rows: int = 30, noise: pd.DataFrame | None = None) -> str:
    """Heading, counts by status and hardware, a table of ok results and one of the rest.

    Each table shows at most max_rows rows, sorted by model. noise: the `series_noise` rows, shown
    as each measured series' run-to-run sigma (blank when not given).
    """
    if df is None or len(df) == 0:
        return f"{HEADING}\n\n{NO_RESULTS}\n"
    frame = with_run_to_run_noise(normalise(df), noise)
    sections = [
        HEADING,
        _counts_section(frame),
        _limited_table("Measured", ok_rows(frame), OK_HEADERS, _ok_row, max_rows),
        _limited_table(
            "Not ok (failed, skipped or invalid)", not_measured_rows(frame), NOT_OK_HEADERS, _not_ok_row, max_rows
        ),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"
