"""Hardware x family: how much faster each hardware runs each family than the reference hardware.

Only configurations measured on both are compared (same model type, size, batch, sequence, dtype
and scenario); a cell is the geometric mean of their speedups, so one huge model cannot dominate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.frame import ok_rows
from mlperf_pipeline.report.plots import png_bytes

REFERENCE = "cpu"
_MATCH = ["model_type", "size", "batch_size", "seq_len", "dtype", "scenario"]


def speedups(results: pd.DataFrame) -> tuple[str, pd.DataFrame, pd.DataFrame] | None:
    """(reference, speedup by family x hardware, matched configurations per cell); None with one hardware."""
    rows = ok_rows(results)
    rows = rows[rows["latency_ms_p50"] > 0].drop_duplicates(["hardware", *_MATCH], keep="last")
    hardware = sorted(set(rows["hardware"]))
    if len(hardware) < 2:
        return None
    reference = REFERENCE if REFERENCE in hardware else hardware[0]
    base = rows[rows["hardware"] == reference][[*_MATCH, "family", "latency_ms_p50"]]
    paired = rows.merge(base, on=_MATCH, suffixes=("", "_reference"))
    if paired.empty:
        return None
    paired["log_speedup"] = np.log(paired["latency_ms_p50_reference"] / paired["latency_ms_p50"])
    grouped = paired.groupby(["family", "hardware"])["log_speedup"]
    speedup = np.exp(grouped.mean()).unstack("hardware")
    counts = grouped.size().unstack("hardware").fillna(0).astype(int)
    return reference, speedup, counts


def heatmap_plot(reference: str, speedup: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(1.8 + 1.2 * speedup.shape[1], 1.2 + 0.45 * speedup.shape[0]))
    axes = figure.add_subplot()
    values = np.log2(speedup.to_numpy(dtype=float))
    limit = max(1.0, np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = axes.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (row, column), value in np.ndenumerate(speedup.to_numpy(dtype=float)):
        if np.isfinite(value):
            axes.text(column, row, f"{value:.3g}x", ha="center", va="center", fontsize=8)
    axes.set_xticks(range(speedup.shape[1]), labels=list(speedup.columns))
    axes.set_yticks(range(speedup.shape[0]), labels=list(speedup.index))
    axes.set_title(f"speedup over {reference} (geometric mean per family)", fontsize=9)
    figure.colorbar(image, ax=axes, label="log2 speedup")
    return png_bytes(figure)


def build(data) -> Section | None:
    found = speedups(data.results)
    if found is None:
        return None
    reference, speedup, counts = found
    rows = [
        [
            family,
            *(
                f"{speedup.loc[family, name]:.3g}x ({counts.loc[family, name]})" if counts.loc[family, name] else ""
                for name in speedup.columns
            ),
        ]
        for family in speedup.index
    ]
    return Section(
        "hardware",
        "Hardware comparison",
        (
            Text(
                f"Speedup of each hardware over {reference}, per family, on the configurations measured on both (how many in brackets)."
            ),
            Plot("hardware-heatmap", f"Speedup over {reference} per family", heatmap_plot(reference, speedup)),
            table(("family", *speedup.columns), rows, numeric=range(1, 1 + len(speedup.columns))),
        ),
    )
