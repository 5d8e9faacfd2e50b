"""Memory: each model type's peak memory against its parameter count."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.frame import fmt_int, fmt_number, ok_rows
from mlperf_pipeline.report.plots import log_log_axes, png_bytes

SIZE_COLOURS = {"tiny": "#ff7f0e", "full": "#1f77b4"}
BYTES_PER_MB = 2**20


def _peaks(results: pd.DataFrame) -> pd.DataFrame:
    """The largest peak of each (hardware, model type, size, dtype), with the batch it came at."""
    rows = ok_rows(results)
    rows = rows[rows["peak_memory_mb"] > 0].sort_values("peak_memory_mb", ascending=False, kind="stable")
    return rows.drop_duplicates(["hardware", "model_type", "size", "dtype"], keep="first")


def _per_parameter(row) -> str:
    """Peak bytes per parameter: 4 is the float32 weights alone; the rest is activations and runtime."""
    return fmt_number(row["peak_memory_mb"] * BYTES_PER_MB / row["params"]) if row["params"] > 0 else ""


def memory_plot(peaks: pd.DataFrame) -> bytes | None:
    rows = peaks[peaks["params"] > 0]
    if rows.empty:
        return None
    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    for size, group in rows.groupby("size"):
        axes.scatter(
            group["params"] / 1e6, group["peak_memory_mb"], s=16, color=SIZE_COLOURS.get(size, "#7f7f7f"), label=size
        )
    log_log_axes(
        axes,
        "parameters (millions)",
        "peak memory (MB)",
        "Peak memory against parameters",
        title="size",
        fontsize="small",
    )
    return png_bytes(figure)


def build(data) -> Section | None:
    peaks = _peaks(data.results)
    if peaks.empty:
        return None
    ordered = peaks.sort_values(["hardware", "size", "peak_memory_mb"], ascending=[True, True, False])
    rows = [
        [
            row["hardware"],
            row["model_type"],
            row["size"],
            row["dtype"],
            fmt_int(row["batch_size"]),
            fmt_number(row["peak_memory_mb"]),
            fmt_number(row["params"] / 1e6) if row["params"] > 0 else "",
            _per_parameter(row),
        ]
        for _, row in ordered.iterrows()
    ]
    blocks = [
        Text(
            "The largest measured peak of each model type (over its batches). Bytes per parameter: 4 is float32 weights alone."
        ),
        table(
            ("hardware", "model", "size", "dtype", "at batch", "peak MB", "params (M)", "bytes/param"),
            rows,
            numeric=(4, 5, 6, 7),
        ),
    ]
    png = memory_plot(peaks)
    if png is not None:
        blocks.insert(0, Plot("memory", "Peak memory against parameters", png))
    return Section("memory", "Memory", tuple(blocks), in_summary=False)
