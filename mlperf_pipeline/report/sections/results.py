"""Every current result: the measured rows with all their figures, then the rows that are not ok
with the reason."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.blocks import Cell, Section, Text, table
from mlperf_pipeline.report.frame import (
    RUN_TO_RUN_SIGMA,
    fmt_ci,
    fmt_int,
    fmt_number,
    fmt_text,
    is_missing,
    not_measured_rows,
    ok_rows,
    sort_results,
)
from mlperf_pipeline.report.sections.coverage import status_cell

REASON_LIMIT = 300  # the table stays readable; the full text is in the cell's tooltip
SUMMARY_REASON_LIMIT = 120

MEASURED_HEADERS = (
    "model", "family", "hardware", "size", "batch", "seq", "dtype", "scenario", "p50 ms", "p90 ms", "p99 ms",
    "CI 95% ms", "run-to-run σ", "n", "warmup", "throughput/s", "peak MB", "first call ms", "build s", "GFLOP",
    "roofline %", "bound",
)  # fmt: skip
MEASURED_TITLES = (
    *[""] * 12,
    "robust sigma of the series' per-run medians over its history",
    *[""] * 6,
    "FLOPs of one forward (skillsets/runtime/counting.py)",
    "achieved FLOP/s over the hardware's measured matrix-product ceiling",
    "compute or memory: which roof the workload's intensity is under",
)
# The UI summary keeps the columns a reader scans: model to dtype, scenario, p50, CI, sigma, throughput, peak.
MEASURED_SUMMARY = (0, 1, 2, 7, 4, 5, 6, 8, 11, 12, 15, 16)
NOT_OK_HEADERS = (
    "model",
    "family",
    "hardware",
    "size",
    "batch",
    "seq",
    "dtype",
    "scenario",
    "status",
    "reason code",
    "reason",
)
NOT_OK_SUMMARY = (0, 2, 3, 4, 6, 8, 9, 10)


def _scaled(value, factor: float) -> str:
    return "" if is_missing(value) else fmt_number(value * factor)


def _configuration(row: pd.Series) -> list[str]:
    return [
        row["model_type"], row["family"], row["hardware"], row["size"], fmt_int(row["batch_size"]),
        fmt_int(row["seq_len"]), row["dtype"], row["scenario"],
    ]  # fmt: skip


def _measured_row(row: pd.Series) -> list:
    return [
        *_configuration(row),
        fmt_number(row["latency_ms_p50"]), fmt_number(row["latency_ms_p90"]), fmt_number(row["latency_ms_p99"]),
        fmt_ci(row["ci95_low_ms"], row["ci95_high_ms"]), row[RUN_TO_RUN_SIGMA], fmt_int(row["n_samples"]),
        fmt_int(row["warmup_n"]), fmt_number(row["throughput_per_s"]), fmt_number(row["peak_memory_mb"]),
        fmt_number(row["first_call_ms"]), fmt_number(row["build_s"]),
        Cell(_scaled(row["flops"], 1e-9), "num", fmt_text(row["count_reason"])),
        _scaled(row["roofline_fraction"], 100), fmt_text(row["bound"]),
    ]  # fmt: skip


def _not_ok_row(row: pd.Series) -> list:
    reason = fmt_text(row["reason"])
    return [
        *_configuration(row),
        status_cell(row["status"]),
        fmt_text(row["reason_code"]),
        Cell(fmt_text(reason, REASON_LIMIT), title=reason),
    ]


def _rows(frame: pd.DataFrame, to_cells) -> list[list]:
    return [to_cells(row) for _, row in sort_results(frame).iterrows()]


def measured(data) -> Section | None:
    rows = ok_rows(data.results)
    if data.results.empty:
        return None
    if rows.empty:
        return Section("results", "Measured results (0)", (Text("No row is ok: see why below.", "empty"),))
    block = table(
        MEASURED_HEADERS,
        _rows(rows, _measured_row),
        numeric=range(8, 19),
        header_titles=MEASURED_TITLES,
        markdown_columns=MEASURED_SUMMARY,
    )
    return Section("results", f"Measured results ({len(rows)})", (block,))


def not_ok(data) -> Section | None:
    rows = not_measured_rows(data.results)
    if rows.empty:
        return None
    block = table(NOT_OK_HEADERS, _rows(rows, _not_ok_row), numeric=(4, 5), markdown_columns=NOT_OK_SUMMARY)
    return Section("not-ok", f"Not ok: failed, skipped or invalid, with the reason ({len(rows)})", (block,))
