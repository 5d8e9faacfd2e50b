"""The report's detection section: confirmed regressions first, each with its series' history
plot (change points and flagged runs marked), then anomalous results.

Built from what the detectors stored (the `regressions` and `anomalies` tables) and the measured
runs of the series shown; nothing is re-detected here, so the report says what the asset check
says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.analysis.noise import has_values, series_runs
from mlperf_pipeline.analysis.regressions import standing_slowdowns
from mlperf_pipeline.report.plots import png_bytes
from mlperf_pipeline.store.results import (
    read_anomalies,
    read_latest_judging,
    read_regressions,
    read_series_history,
)
from mlperf_pipeline.store.schema import SERIES_KEY

MAX_PLOTS = 12  # history plots for the largest standing regressions; the table lists them all
MAX_ANOMALIES = 30


@dataclass(frozen=True)
class DetectionInput:
    """What the section shows: stored `regressions` and `anomalies` rows, and the measured runs
    (`store.results.read_series_history` columns) of at least the series with standing regressions
    (each plotted as the detectors judged it: the runs of its latest bench version)."""

    regressions: pd.DataFrame
    anomalies: pd.DataFrame
    histories: pd.DataFrame = field(default_factory=pd.DataFrame)


def series_label(row) -> str:
    values = [str(getattr(row, name)) for name in SERIES_KEY]
    return " · ".join(values)


def _key(finding) -> tuple:
    return tuple(None if pd.isna(value) else value for value in (getattr(finding, name) for name in SERIES_KEY))


def _same_series(frame: pd.DataFrame, finding) -> pd.DataFrame:
    """The rows of `frame` that belong to the finding's series (a null key value matches a null)."""
    if frame.empty:
        return frame
    same = pd.Series(True, index=frame.index)
    for name in SERIES_KEY:
        value = getattr(finding, name)
        same &= frame[name].isna() if pd.isna(value) else frame[name] == value
    return frame[same]


def history_plot(runs: pd.DataFrame, findings: pd.DataFrame, title: str) -> bytes | None:
    """One series' runs oldest first: each run's level and its per-process medians, the confirmed
    change points as dashed lines (with the change), flagged latest runs in red."""
    if runs.empty:
        return None
    figure = Figure(figsize=(8, 3))
    axes = figure.add_subplot()
    x = list(range(len(runs)))
    for index, medians in enumerate(runs["process_medians_ms"]):
        if has_values(medians):
            axes.scatter([index] * len(medians), medians, s=6, color="#9e9e9e", zorder=1)
    axes.plot(x, runs["latency_ms_p50"], marker="o", markersize=3, color="#1f77b4", zorder=2, label="run level")
    position = {run_id: index for index, run_id in enumerate(runs["run_id"])}
    for finding in findings.itertuples(index=False):
        index = position.get(finding.run_id)
        if index is None:
            continue
        colour = "#d62728" if finding.change_pct > 0 else "#2ca02c"
        if finding.method == "change_point":
            axes.axvline(index - 0.5, linestyle="--", color=colour, linewidth=1)
        else:
            axes.scatter([index], [runs["latency_ms_p50"].iloc[index]], s=40, color=colour, zorder=3)
        axes.annotate(
            f"{finding.change_pct:+.1f}% ({finding.state})", (index, runs["latency_ms_p50"].iloc[index]), fontsize=8
        )
    axes.set_xlabel("run (oldest first)")
    axes.set_ylabel("latency p50 (ms)")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def _regression_cells(row) -> dict[str, str]:
    return {
        "series": series_label(row),
        "change": f"{row.change_pct:+.1f}%",
        "sigma": f"{row.noise_sigma_pct:.1f}%",
        "values": f"{row.baseline_value:.2f} → {row.current_value:.2f} ms",
        "method": str(row.method),
        "since": str(row.run_id),
        "p": f"{row.p_value:.2g}",
        "suspect": row.suspect if isinstance(row.suspect, str) else "",
    }


def _anomaly_cells(row) -> dict[str, str]:
    return {
        "series": series_label(row),
        "run": str(row.run_id),
        "value": f"{row.value:.2f} ms",
        "expected": f"{row.expected:.2f} ms",
        "z": f"{row.robust_z:+.1f}",
    }


def stored_detection_input(db_path) -> DetectionInput | None:
    """From the store: the latest judging's regression findings (what the `no_confirmed_regressions`
    check judged), the stored anomalies, and the runs of the model types with confirmed findings;
    None when `regressions` has never judged this store (the report then has no detection section)."""
    if read_latest_judging(db_path, "regressions") is None:
        return None
    findings = read_regressions(db_path, latest_judging=True)
    confirmed = findings[findings["state"] == "confirmed"]
    histories = [
        read_series_history(db_path, hardware, types["model_type"].unique().tolist())
        for hardware, types in confirmed.groupby("hardware")
    ]
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    return DetectionInput(regressions=findings, anomalies=read_anomalies(db_path), histories=history)


def standing_plots(data: DetectionInput) -> list[tuple[object, bytes]]:
    """(finding, PNG) for the largest standing regressions (at most `MAX_PLOTS`), each its series'
    history as the detectors judged it, with the series' unrefuted findings marked."""
    standing = standing_slowdowns(data.regressions)
    if standing.empty:
        return []
    judged_runs = dict(series_runs(data.histories)) if not data.histories.empty else {}
    plots = []
    for row in standing.sort_values("change_pct", ascending=False).head(MAX_PLOTS).itertuples(index=False):
        findings = _same_series(data.regressions, row)
        png = history_plot(
            judged_runs.get(_key(row), pd.DataFrame()), findings[findings["state"] != "refuted"], series_label(row)
        )
        if png is not None:
            plots.append((row, png))
    return plots


def write_history_plots(data: DetectionInput, folder: Path) -> list[Path]:
    """The standing regressions' history plots as PNG files in `folder`, one per series, named by
    its whole key; the plots of series that no longer stand are removed. What the `regressions`
    asset links from its metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    written = []
    for row, png in standing_plots(data):
        path = folder / ("_".join(str(getattr(row, name)) for name in SERIES_KEY).replace("/", "-") + ".png")
        path.write_bytes(png)
        written.append(path)
    return written


def regression_rows(data: DetectionInput) -> list[dict[str, str]]:
    """The standing regressions as table cells, the largest slowdown first."""
    standing = standing_slowdowns(data.regressions)
    if standing.empty:
        return []
    return [
        _regression_cells(row) for row in standing.sort_values("change_pct", ascending=False).itertuples(index=False)
    ]


def anomaly_rows(data: DetectionInput) -> list[dict[str, str]]:
    """The stored anomalies as table cells, the farthest first (at most `MAX_ANOMALIES`)."""
    if data.anomalies.empty:
        return []
    ordered = data.anomalies.sort_values("robust_z", key=abs, ascending=False)
    return [_anomaly_cells(row) for row in ordered.head(MAX_ANOMALIES).itertuples(index=False)]
