"""One benchmark partition at a glance: this run's latency histogram per configuration, and each
series' history of run medians with this run marked. What the `benchmark_results` materialisation
links to (a PNG file per partition, replaced by each run), so the event log carries no images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.report.files import write_atomic
from mlperf_pipeline.report.plots import png_bytes

MAX_SERIES = 8  # configurations drawn; a partition rarely measures more
_CONFIGURATION = ["size", "batch_size", "seq_len", "dtype", "scenario"]


def _label(key) -> str:
    size, batch, seq, dtype, scenario = key
    return f"{size} b{batch} s{seq} {dtype} {scenario}"


def partition_plot(samples: pd.DataFrame, history: pd.DataFrame, run_id: str, title: str) -> bytes | None:
    """None when the run took no samples (every row skipped or failed)."""
    if samples.empty or not (samples["latency_ms"] > 0).any():
        return None
    figure = Figure(figsize=(11, 3.8))
    histogram, runs = figure.subplots(1, 2)
    for key, group in list(samples.groupby(_CONFIGURATION, sort=True))[:MAX_SERIES]:
        histogram.hist(group["latency_ms"], bins=30, alpha=0.6, label=_label(key))
    histogram.set(xlabel="latency per call (ms)", ylabel="calls")
    histogram.set_title("this run's calls", fontsize=9)
    histogram.legend(fontsize="x-small")
    if not history.empty:
        for key, group in list(history.groupby(_CONFIGURATION, sort=True))[:MAX_SERIES]:
            ordered = group.sort_values("measured_at").reset_index(drop=True)
            (line,) = runs.plot(ordered.index, ordered["latency_ms_p50"], marker="o", markersize=3, label=_label(key))
            now = ordered[ordered["run_id"] == run_id]
            runs.scatter(now.index, now["latency_ms_p50"], s=50, color=line.get_color(), edgecolor="black", zorder=3)
        runs.legend(fontsize="x-small")
    runs.set(xlabel="run (oldest first; this one outlined)", ylabel="run median (ms)")
    runs.set_title("history of each series", fontsize=9)
    runs.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    return png_bytes(figure)


def write_partition_plot(folder: Path, hardware: str, model_type: str, png: bytes) -> Path:
    """`<folder>/<hardware>/<model_type>.png`, replacing the previous run's."""
    path = folder / hardware / f"{model_type.replace('/', '-')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, png)
    return path
