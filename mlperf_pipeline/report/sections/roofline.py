"""The roofline: each hardware's measured ceilings, and every counted result placed under them.

Two panels per hardware. Left, latency against the FLOPs of one forward, with the compute roof's
least time F / peak per dtype: a point's height above its line is the time lost to memory traffic
and overhead. Right, the classic roofline: achieved FLOP/s against intensity (FLOPs per byte),
under min(peak, bandwidth x intensity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.analysis.roofline import Roofline, rooflines_of
from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.ceilings import ceiling_rows
from mlperf_pipeline.report.frame import ok_rows
from mlperf_pipeline.report.plots import log_log_axes, png_bytes

BOUND_COLOURS = {"compute": "#d62728", "memory": "#1f77b4"}
OTHER_COLOUR = "#7f7f7f"
CEILING_HEADERS = ("hardware", "metric", "dtype", "size", "rate", "95% CI", "processes", "threads", "measured")


def counted(results: pd.DataFrame, hardware: str) -> pd.DataFrame:
    rows = ok_rows(results)
    return rows[(rows["hardware"] == hardware) & (rows["flops"] > 0) & (rows["latency_ms_p50"] > 0)]


def _latency_panel(axes, rows: pd.DataFrame, roofline: Roofline) -> None:
    for bound, group in rows.groupby(rows["bound"].where(rows["bound"].isin(list(BOUND_COLOURS)), "unknown")):
        axes.scatter(
            group["flops"] / 1e9,
            group["latency_ms_p50"],
            s=14,
            color=BOUND_COLOURS.get(bound, OTHER_COLOUR),
            label=f"{bound}-bound" if bound != "unknown" else "bound unknown",
        )
    flops = np.geomspace(rows["flops"].min() / 2, rows["flops"].max() * 2, 50)
    for dtype in sorted(set(rows["dtype"]) & set(roofline.flops_per_s)):
        axes.plot(
            flops / 1e9,
            flops / roofline.flops_per_s[dtype] * 1e3,
            linestyle="--",
            linewidth=1,
            label=f"compute roof ({dtype})",
        )
    log_log_axes(
        axes, "GFLOP per forward", "median latency (ms)", "latency against FLOPs", heading_size=9, fontsize="x-small"
    )


def _roofline_panel(axes, rows: pd.DataFrame, roofline: Roofline) -> None:
    rows = rows[rows["bytes"] > 0]
    if rows.empty:
        axes.set_axis_off()
        return
    intensity = rows["flops"] / rows["bytes"]
    achieved = rows["flops"] / (rows["latency_ms_p50"] / 1e3)
    axes.scatter(intensity, achieved / 1e9, s=14, color=[BOUND_COLOURS.get(b, OTHER_COLOUR) for b in rows["bound"]])
    span = np.geomspace(intensity.min() / 4, intensity.max() * 4, 100)
    for dtype in sorted(set(rows["dtype"]) & set(roofline.flops_per_s)):
        roof = np.minimum(roofline.flops_per_s[dtype], roofline.bytes_per_s * span)
        axes.plot(span, roof / 1e9, linewidth=1.2, label=f"roof ({dtype})")
    log_log_axes(
        axes, "intensity (FLOP per byte)", "achieved GFLOP/s", "the roofline", heading_size=9, fontsize="x-small"
    )


def roofline_plot(rows: pd.DataFrame, roofline: Roofline) -> bytes:
    figure = Figure(figsize=(11, 4.2))
    left, right = figure.subplots(1, 2)
    _latency_panel(left, rows, roofline)
    _roofline_panel(right, rows, roofline)
    figure.suptitle(f"{roofline.hardware}: measured results under the measured roofs", fontsize=10)
    return png_bytes(figure)


def build(data) -> Section | None:
    if data.ceilings.empty:
        return None
    rows = ceiling_rows(data.ceilings)
    blocks = [
        Text(
            "Measured matrix-product rates per dtype and size, and memory bandwidth: the roofs each result's roofline "
            "fraction and bound are computed against. The interval is over independent processes."
        ),
        table(CEILING_HEADERS, [list(row.values()) for row in rows], numeric=(3, 4, 5, 6, 7)),
    ]
    for hardware, roofline in rooflines_of(data.ceilings).items():
        placed = counted(data.results, hardware)
        if not placed.empty:
            blocks.append(
                Plot(
                    f"roofline-{hardware}",
                    f"{hardware}: latency against FLOPs, and the roofline",
                    roofline_plot(placed, roofline),
                )
            )
    return Section("roofline", "Hardware ceilings (the roofline)", tuple(blocks))
