"""Confirmed regressions, each with its history plot, then anomalous results (`report/detection.py`).

Both skip themselves until a detector has judged the store (no detection input)."""

from __future__ import annotations

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.detection import anomaly_rows, regression_rows, series_label, standing_plots

REGRESSION_HEADERS = ("series", "change", "run-to-run σ", "baseline → now", "method", "since run", "p", "suspect")
ANOMALY_HEADERS = ("series", "run", "value", "expected", "robust z")


def regressions(data) -> Section | None:
    if data.detection is None:
        return None
    rows = regression_rows(data.detection)
    if not rows:
        return Section(
            "regressions", "Confirmed regressions (0 standing)", (Text("No confirmed slowdown stands.", "empty"),)
        )
    plots = [
        Plot(f"regression-{index}", f"{series_label(row)}: {row.change_pct:+.1f}% since {row.run_id}", png)
        for index, (row, png) in enumerate(standing_plots(data.detection))
    ]
    blocks = (table(REGRESSION_HEADERS, [list(row.values()) for row in rows], numeric=(1, 2, 3, 6)), *plots)
    return Section("regressions", f"Confirmed regressions ({len(rows)} standing)", blocks)


def anomalies(data) -> Section | None:
    if data.detection is None:
        return None
    rows = anomaly_rows(data.detection)
    title = f"Anomalous results ({len(data.detection.anomalies)})"
    if not rows:
        return Section("anomalies", title, (Text("No result is far from its series.", "empty"),))
    return Section(
        "anomalies", title, (table(ANOMALY_HEADERS, [list(row.values()) for row in rows], numeric=(2, 3, 4)),)
    )
