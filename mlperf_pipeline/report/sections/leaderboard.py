"""The leaderboard: per hardware, the model types at full size, fastest first."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.frame import RUN_TO_RUN_SIGMA, fmt_ci, fmt_int, fmt_number, is_missing, ok_rows
from mlperf_pipeline.report.plots import latency_plot

HEADERS = (
    "rank", "model", "family", "batch", "seq", "dtype", "p50 ms", "CI 95% ms", "run-to-run σ",
    "throughput/s", "peak MB", "roofline %", "bound",
)  # fmt: skip


def single_stream(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (hardware, model type, dtype): its smallest batch and sequence, the newest first."""
    ordered = rows.sort_values(["batch_size", "seq_len", "measured_at"], ascending=[True, True, False], kind="stable")
    return ordered.drop_duplicates(["hardware", "model_type", "dtype"], keep="first")


def _percent(fraction) -> str:
    return "" if is_missing(fraction) else fmt_number(100 * fraction)


def _ranked(rows: pd.DataFrame) -> list[list[str]]:
    ordered = rows.sort_values("latency_ms_p50", kind="stable")
    return [
        [
            str(rank),
            row["model_type"],
            row["family"],
            fmt_int(row["batch_size"]),
            fmt_int(row["seq_len"]),
            row["dtype"],
            fmt_number(row["latency_ms_p50"]),
            fmt_ci(row["ci95_low_ms"], row["ci95_high_ms"]),
            row[RUN_TO_RUN_SIGMA],
            fmt_number(row["throughput_per_s"]),
            fmt_number(row["peak_memory_mb"]),
            _percent(row["roofline_fraction"]),
            "" if is_missing(row["bound"]) else str(row["bound"]),
        ]
        for rank, (_, row) in enumerate(ordered.iterrows(), start=1)
    ]


def build(data) -> Section | None:
    full = ok_rows(data.results)
    full = single_stream(full[(full["size"] == "full") & (full["latency_ms_p50"] > 0)])
    if full.empty:
        return None
    blocks = [Text("Each model type at full size, at its smallest measured batch and sequence length, fastest first.")]
    for hardware, rows in full.groupby("hardware", sort=True):
        blocks += [
            Text(f"{hardware}: {len(rows)} model types"),
            table(HEADERS, _ranked(rows), numeric=(0, 3, 4, 6, 7, 8, 9, 10, 11)),
        ]
    png = latency_plot(full)
    if png is not None:
        blocks.append(Plot("leaderboard", "Latency at full size per model type", png))
    return Section("leaderboard", "Leaderboard at full size", tuple(blocks))
