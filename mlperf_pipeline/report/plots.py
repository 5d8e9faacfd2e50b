"""PNG plots of benchmark results.

pyplot keeps global state (the current figure, the chosen backend) and is not thread-safe.
Each plot here builds its own `Figure` on an explicit Agg canvas instead: nothing global is
touched, no display is needed, and plots can be drawn from several threads at once.
Every function returns PNG bytes, or None when the rows hold nothing to plot.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pandas as pd
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator, NullLocator

from mlperf_pipeline.reasons import Status
from mlperf_pipeline.report.frame import STATUS_ORDER, normalise, ok_rows

DPI = 100
MAX_FIGURE_HEIGHT_IN = 60  # keeps a full-catalogue chart (600+ models) a sane PNG size
MAX_LEGEND_ENTRIES = 30  # beyond this a legend hides the plot rather than explaining it

# Fixed colours so a hardware or status looks the same in every report.
HARDWARE_COLOURS = {
    "cpu": "#1f77b4",
    "cuda": "#2ca02c",
    "rocm": "#d62728",
    "mps": "#9467bd",
    "xpu": "#ff7f0e",
}
EXTRA_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
STATUS_COLOURS = {
    Status.OK.value: "#2ca02c",
    Status.INVALID.value: "#ff7f0e",
    Status.FAILED.value: "#d62728",
    Status.SKIPPED.value: "#9e9e9e",
}
OTHER_STATUS_COLOUR = "#9467bd"


def png_bytes(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)  # attaches itself to the figure; no pyplot, no global backend
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def plain_log_labels(axis: Axis) -> None:
    # The default '2×10^0' labels are hard to read; plain numbers ('2', '20', '200') are not,
    # and minor labels keep a log axis spanning less than a decade from having no labels.
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))


def log_log_axes(axes, xlabel: str, ylabel: str, heading: str, heading_size: float | None = None, **legend) -> None:
    """Both axes logarithmic with plain labels, a major grid, the title and a legend."""
    axes.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    plain_log_labels(axes.xaxis)
    plain_log_labels(axes.yaxis)
    axes.set_title(heading, fontsize=heading_size)
    axes.grid(which="major", alpha=0.3)
    axes.legend(**legend)


def _hardware_colour(hardware: str, index: int) -> str:
    return HARDWARE_COLOURS.get(hardware, EXTRA_COLOURS[index % len(EXTRA_COLOURS)])


# --- latency -------------------------------------------------------------------------------


def _latency_points(frame: pd.DataFrame) -> pd.DataFrame:
    """One ok row per (model type, hardware): its single-stream configuration.

    A model has many rows (batch sweep, dtypes); mixing them would make the bar and its CI
    describe different things. Prefer the 'latency' scenario, then the smallest batch and
    sequence, then the newest measurement.
    """
    rows = ok_rows(frame)
    rows = rows[rows["latency_ms_p50"] > 0].copy()  # a log axis cannot show zero or less
    rows["_not_latency"] = rows["scenario"] != "latency"
    rows = rows.sort_values(
        ["_not_latency", "batch_size", "seq_len", "measured_at"],
        ascending=[True, True, True, False],
        na_position="last",
        kind="stable",
    )
    return rows.groupby(["model_type", "hardware"], sort=False).head(1)


def _ci_errors(rows: pd.DataFrame) -> np.ndarray:
    """Asymmetric error bar lengths from the CI; zero where an end is unknown or misplaced."""
    median = rows["latency_ms_p50"].to_numpy()
    below = np.nan_to_num(median - rows["ci95_low_ms"].to_numpy(), nan=0.0).clip(min=0)
    above = np.nan_to_num(rows["ci95_high_ms"].to_numpy() - median, nan=0.0).clip(min=0)
    below = np.minimum(below, median * 0.999)  # a lower end at or below zero breaks log scale
    return np.vstack([below, above])


def _bar_chart_height(n_bars: int) -> float:
    return min(MAX_FIGURE_HEIGHT_IN, 1.5 + 0.28 * n_bars)


def latency_plot(df: pd.DataFrame | None) -> bytes | None:
    """Median latency per model type (ok rows) as points with 95% CI whiskers, fastest on top.

    Points rather than bars: on a log axis a bar's length depends on where the axis starts, so
    bars of 1.10 and 1.18 ms would look 3x apart. One colour per hardware.
    """
    points = _latency_points(normalise(df))
    if points.empty:
        return None
    models = points.groupby("model_type")["latency_ms_p50"].min().sort_values().index.tolist()
    hardware = sorted(points["hardware"].unique())
    row_of = {model: index for index, model in enumerate(models)}
    bar_height = 0.8 / len(hardware)

    figure = Figure(figsize=(9, _bar_chart_height(len(models) * len(hardware))))
    axes = figure.add_subplot()
    for index, name in enumerate(hardware):
        rows = points[points["hardware"] == name]
        offset = (index - (len(hardware) - 1) / 2) * bar_height
        positions = [row_of[model] + offset for model in rows["model_type"]]
        axes.errorbar(
            rows["latency_ms_p50"],
            positions,
            xerr=_ci_errors(rows),
            fmt="o",
            markersize=5,
            color=_hardware_colour(name, index),
            ecolor="#333333",
            capsize=2,
            elinewidth=0.8,
            label=name,
        )
    axes.set_yticks(range(len(models)), labels=models, fontsize=8 if len(models) > 40 else 9)
    axes.set_ylim(len(models) - 0.5, -0.5)  # first (fastest) model at the top
    axes.set_xscale("log")
    plain_log_labels(axes.xaxis)
    axes.set_xlabel("median latency (ms, log scale); whiskers: 95% CI of the median")
    axes.set_title("Latency per model type")
    axes.grid(axis="x", which="both", alpha=0.3)
    axes.legend(title="hardware", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(figure)


# --- throughput ----------------------------------------------------------------------------


def _throughput_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Median throughput per (series, batch size), for series measured at 2+ batch sizes."""
    rows = ok_rows(frame)
    rows = rows[(rows["batch_size"] > 0) & (rows["throughput_per_s"] > 0)].copy()
    if rows.empty:
        return rows
    rows["series"] = rows["model_type"] + " @ " + rows["hardware"]
    if rows["dtype"].nunique() > 1:  # only name the dtype when it tells series apart
        rows["series"] += " " + rows["dtype"]
    points = rows.groupby(["series", "batch_size"], as_index=False)["throughput_per_s"].median()
    sizes_per_series = points.groupby("series")["batch_size"].transform("nunique")
    return points[sizes_per_series > 1]


def throughput_plot(df: pd.DataFrame | None) -> bytes | None:
    """Throughput against batch size, one line per model (and hardware).

    None unless some model was measured at more than one batch size.
    """
    points = _throughput_points(normalise(df))
    if points.empty:
        return None
    figure = Figure(figsize=(9, 5.5))
    axes = figure.add_subplot()
    series_names = sorted(points["series"].unique())
    for name in series_names:
        series = points[points["series"] == name].sort_values("batch_size")
        axes.plot(series["batch_size"], series["throughput_per_s"], marker="o", label=name)
    batch_sizes = sorted(points["batch_size"].unique())
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    plain_log_labels(axes.yaxis)
    axes.set_xticks(batch_sizes, labels=[f"{size:g}" for size in batch_sizes])
    axes.xaxis.set_minor_locator(NullLocator())  # only the measured batch sizes are ticks
    axes.set_xlabel("batch size (log scale)")
    axes.set_ylabel("throughput (items/s, log scale)")
    axes.set_title("Throughput vs batch size")
    axes.grid(which="major", alpha=0.3)
    if len(series_names) <= MAX_LEGEND_ENTRIES:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(figure)


# --- status --------------------------------------------------------------------------------


def _status_columns(counts: pd.DataFrame) -> list[str]:
    known = [status for status in STATUS_ORDER if status in counts.columns]
    return known + sorted(status for status in counts.columns if status not in STATUS_ORDER)


def status_plot(df: pd.DataFrame | None) -> bytes | None:
    """Stacked bars: how many results of each status per model family."""
    frame = normalise(df)
    if frame.empty:
        return None
    counts = pd.crosstab(frame["family"], frame["status"])
    positions = np.arange(len(counts.index))

    figure = Figure(figsize=(max(6.0, 1.5 + 0.7 * len(positions)), 4.5))
    axes = figure.add_subplot()
    bottom = np.zeros(len(positions))
    for status in _status_columns(counts):
        values = counts[status].to_numpy(dtype=float)
        colour = STATUS_COLOURS.get(status, OTHER_STATUS_COLOUR)
        axes.bar(positions, values, bottom=bottom, color=colour, label=status)
        bottom += values
    axes.set_xticks(positions, labels=counts.index.tolist(), rotation=30, ha="right")
    axes.set_ylabel("results")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts have no fractions
    axes.set_title("Results by status per family")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(title="status", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(figure)
