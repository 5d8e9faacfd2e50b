"""Calibration: the predictor's latest predictions against what was measured, with the ±10% band,
and the calibrated roofline's parameters over its fits.

Accuracy is split by whether the model type was held out of training: only the held-out figure
says how the predictor does on a type it has not seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.frame import fmt_number, fmt_text
from mlperf_pipeline.report.plots import log_log_axes, png_bytes

BAND = 0.10
MAX_GROUPS = 8  # parameter-history lines; the pooled fits first
PARAMETER_UNITS = {"e_compute": "", "e_memory": "", "overhead_s": " (s)"}


def _compared(predictions: pd.DataFrame) -> pd.DataFrame:
    if predictions.empty or "measured_ms" not in predictions:
        return pd.DataFrame()
    rows = predictions[(predictions["measured_ms"] > 0) & (predictions["predicted_ms"] > 0)].copy()
    rows["error"] = rows["predicted_ms"] / rows["measured_ms"] - 1
    rows["held_out"] = rows["holdout"].fillna(False).astype(bool)
    return rows


def accuracy_rows(compared: pd.DataFrame) -> list[list[str]]:
    rows = []
    for (hardware, held_out), group in compared.groupby(["hardware", "held_out"], sort=True):
        error = group["error"].abs()
        rows.append(
            [
                hardware,
                "held-out types" if held_out else "trained types",
                str(group["model_type"].nunique()),
                str(len(group)),
                f"{100 * error.median():.1f}%",
                f"{100 * (error <= BAND).mean():.0f}%",
            ]
        )
    return rows


def prediction_plot(compared: pd.DataFrame) -> bytes:
    figure = Figure(figsize=(6, 5.5))
    axes = figure.add_subplot()
    for held_out, group in compared.groupby("held_out"):
        axes.scatter(
            group["measured_ms"],
            group["predicted_ms"],
            s=14,
            color="#d62728" if held_out else "#1f77b4",
            label="held-out type" if held_out else "trained type",
        )
    span = np.geomspace(
        compared[["measured_ms", "predicted_ms"]].min().min() / 1.5,
        compared[["measured_ms", "predicted_ms"]].max().max() * 1.5,
        20,
    )
    axes.plot(span, span, color="#333333", linewidth=1, label="predicted = measured")
    axes.fill_between(span, span * (1 - BAND), span * (1 + BAND), color="#9e9e9e", alpha=0.3, label="±10%")
    log_log_axes(axes, "measured median (ms)", "predicted (ms)", "Predicted against measured", fontsize="small")
    return png_bytes(figure)


def _groups(history: pd.DataFrame) -> list[tuple]:
    keys = history[["hardware", "family", "dtype"]].drop_duplicates()
    keys = keys.assign(pooled=keys["family"] != "*").sort_values(["pooled", "hardware", "family", "dtype"])
    return [tuple(row) for row in keys[["hardware", "family", "dtype"]].head(MAX_GROUPS).itertuples(index=False)]


def history_plot(history: pd.DataFrame) -> bytes | None:
    fits = history["fitted_at"].nunique()
    if fits < 2:
        return None  # one fit has no history to show
    parameters = [name for name in PARAMETER_UNITS if name in set(history["parameter"])]
    figure = Figure(figsize=(4 * len(parameters), 3.6))
    axes_list = np.atleast_1d(figure.subplots(1, len(parameters)))
    for axes, parameter in zip(axes_list, parameters):
        for group in _groups(history):
            rows = history[
                (history["parameter"] == parameter)
                & (history[["hardware", "family", "dtype"]].apply(tuple, axis=1) == group)
            ]
            axes.plot(
                pd.to_datetime(rows["fitted_at"]), rows["value"], marker="o", markersize=3, label=" · ".join(group)
            )
        axes.set_title(parameter + PARAMETER_UNITS[parameter], fontsize=9)
        axes.tick_params(axis="x", labelrotation=30, labelsize=7)
        axes.grid(alpha=0.3)
    axes_list[-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(figure)


def _latest_fit_rows(history: pd.DataFrame) -> list[list[str]]:
    latest = history[history["fitted_at"] == history["fitted_at"].max()]
    return [
        [
            row["hardware"],
            row["family"],
            row["dtype"],
            row["parameter"],
            fmt_number(row["value"]),
            f"{fmt_number(row['ci_low'])}–{fmt_number(row['ci_high'])}" if pd.notna(row.get("ci_low")) else "",
            "" if pd.isna(row.get("n_types")) else str(int(row["n_types"])),
            fmt_text(row.get("drift_method")) if bool(row.get("drift")) else "",
        ]
        for _, row in latest.iterrows()
    ]


def build(data) -> Section | None:
    compared = _compared(data.predictions)
    history = data.calibration
    if compared.empty and history.empty:
        return None
    blocks = []
    if not compared.empty:
        blocks += [
            Text(
                "The latest predictions of measured configurations. Median error and the share within ±10%, split by whether the type was held out of training."
            ),
            table(
                ("hardware", "types", "model types", "configurations", "median |error|", "within ±10%"),
                accuracy_rows(compared),
                numeric=(2, 3, 4, 5),
            ),
            Plot("calibration", "Predicted against measured, with the ±10% band", prediction_plot(compared)),
        ]
    if not history.empty:
        blocks += [
            Text(
                "The calibrated roofline's parameters at its latest fit (efficiencies against the measured roofs, and the overhead per operator); drift as `analysis/drift.py` judged it."
            ),
            table(
                ("hardware", "family", "dtype", "parameter", "value", "95% CI", "types", "drift"),
                _latest_fit_rows(history),
                numeric=(4, 5, 6),
            ),
        ]
        png = history_plot(history)
        if png is not None:
            blocks.append(Plot("parameters", "Calibration parameters over the fits", png))
    return Section("calibration", "Calibration and prediction", tuple(blocks))
