"""Run-to-run noise per series (`series_noise`): how far one run lands from the next."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.frame import fmt_int, fmt_number
from mlperf_pipeline.report.plots import png_bytes


def _judged(noise: pd.DataFrame) -> pd.DataFrame:
    if noise.empty:
        return noise
    return noise[noise["noise_pct"].notna()].sort_values("noise_pct", ascending=False)


def noise_plot(judged: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(7, 3.5))
    axes = figure.add_subplot()
    axes.hist(judged["noise_pct"], bins=min(30, max(5, len(judged))), color="#1f77b4")
    axes.set(xlabel="run-to-run σ (% of the series' level)", ylabel="series")
    axes.set_title("Run-to-run noise of the series with 3 runs or more")
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def build(data) -> Section | None:
    judged = _judged(data.noise)
    if judged.empty:
        return None
    rows = [
        [
            row["hardware"],
            row["model_type"],
            row["size"],
            fmt_int(row["batch_size"]),
            fmt_int(row["seq_len"]),
            row["dtype"],
            row["scenario"],
            fmt_int(row["n_runs"]),
            fmt_number(row["level_ms"]),
            f"±{row['noise_pct']:.1f}%",
        ]
        for _, row in judged.iterrows()
    ]
    return Section(
        "noise",
        "Run-to-run noise",
        (
            Text(
                "Robust σ of each series' per-run medians over its history (latest bench version), noisiest first: "
                "a change smaller than a few σ is not evidence of anything."
            ),
            Plot("noise", "Run-to-run noise per series", noise_plot(judged)),
            table(
                ("hardware", "model", "size", "batch", "seq", "dtype", "scenario", "runs", "level ms", "σ"),
                rows,
                numeric=(3, 4, 7, 8, 9),
            ),
        ),
    )
