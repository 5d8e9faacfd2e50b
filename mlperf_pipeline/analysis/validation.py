"""Accuracy on architectures a model never saw: folds that hold out whole architecture groups.

Every row of a model type, at every size and batch, lands in the same fold, and so does every type
built from the same modelling code (`catalog/lineage.py`: roberta, camembert and xlm-roberta are
bert's group). Shuffled rows would let a model learn bert at batch 1 and be scored on bert at batch
8, which says nothing about a new architecture. Scikit-learn's `GroupKFold` does the splitting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.calibration import calibrate
from mlperf_pipeline.catalog.lineage import architecture_group

FOLDS = 5
WITHIN_PCT = 10.0


@dataclass(frozen=True)
class Accuracy:
    mape_pct: float
    within_pct: float  # share of predictions within ±WITHIN_PCT of the measurement
    n: int

    def to_dict(self) -> dict:
        return {"mape_pct": round(self.mape_pct, 2), "within_10_pct": round(self.within_pct, 1), "n": self.n}


def accuracy(measured: np.ndarray, predicted: np.ndarray) -> Accuracy:
    """Mean absolute percentage error and the share within ±10%, over rows with a prediction."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    keep = np.isfinite(predicted) & np.isfinite(measured) & (measured > 0)
    errors = np.abs(predicted[keep] / measured[keep] - 1) * 100
    if errors.size == 0:
        return Accuracy(float("nan"), float("nan"), 0)
    return Accuracy(float(errors.mean()), float((errors <= WITHIN_PCT).mean() * 100), int(errors.size))


def groups_of(work: pd.DataFrame) -> np.ndarray:
    return np.array([architecture_group(model_type) for model_type in work["model_type"]])


def out_of_fold(
    work: pd.DataFrame, fit_predict: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray], folds: int = FOLDS
) -> np.ndarray:
    """Each row's prediction by a model fitted without its architecture group."""
    from sklearn.model_selection import GroupKFold

    groups = groups_of(work)
    predictions = np.full(len(work), np.nan)
    splits = min(folds, len(set(groups)))
    if splits < 2:
        raise ValueError(f"held-out validation needs at least 2 architecture groups, got {sorted(set(groups))}")
    for train, test in GroupKFold(n_splits=splits).split(work, groups=groups):
        predictions[test] = fit_predict(work.iloc[train].reset_index(drop=True), work.iloc[test].reset_index(drop=True))
    return predictions


def calibrated_out_of_fold(work: pd.DataFrame, folds: int = FOLDS) -> np.ndarray:
    """The calibrated roofline's held-out seconds (a never-seen family gets its pooled fit)."""
    return out_of_fold(work, lambda train, test: calibrate(train, bootstrap=0).predict(test), folds)


def uncalibrated_seconds(work: pd.DataFrame) -> np.ndarray:
    """The bare roofline: both roofs reached, no per-operator cost (the 2.5-3x optimistic baseline)."""
    return np.maximum(work["flops"] / work["peak"], work["bytes"] / work["bandwidth"]).to_numpy(float)


def flops_only_out_of_fold(work: pd.DataFrame, folds: int = FOLDS) -> np.ndarray:
    """log seconds = a + b log FLOPs per (hardware, dtype), fitted on the training folds."""

    def fit_predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        out = np.full(len(test), np.nan)
        for (hardware, dtype), rows in train.groupby(["hardware", "dtype"]):
            if len(rows) < 2:
                continue
            slope, intercept = np.polyfit(np.log(rows["flops"]), np.log(rows["seconds"]), 1)
            mask = ((test["hardware"] == hardware) & (test["dtype"] == dtype)).to_numpy()
            out[mask] = np.exp(intercept + slope * np.log(test.loc[mask, "flops"].to_numpy(float)))
        return out

    return out_of_fold(work, fit_predict, folds)
