"""The learned performance predictor: the calibrated roofline, corrected by gradient boosting.

    predicted seconds = calibrated roofline seconds × exp(g(features))

g is scikit-learn's `HistGradientBoostingRegressor` fitted to log(measured / calibrated roofline):
what the roofline's three parameters cannot say (a model whose products are small and badly
shaped, an attention share that grows with the sequence) is learned from the workload's features,
not from its name. The features: log FLOPs, bytes, intensity, operators and parameters, batch and
sequence length, dtype and family (categorical), the hardware's measured ceilings, and the
roofline's own terms (log compute, memory and overhead seconds).

Its 90% interval is conformal: the 5th and 95th percentiles of the out-of-fold log residuals on
held-out architecture groups (`validation.out_of_fold`), per family where a family has at least
`MIN_FAMILY_RESIDUALS` of them and pooled otherwise. So the interval says how far the predictor
misses on an architecture it never saw, which is what a prediction for a new type is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.calibration import Calibration, calibrate
from mlperf_pipeline.analysis.validation import out_of_fold

INTERVAL = 0.90
MIN_FAMILY_RESIDUALS = 20
CATEGORICAL = ("dtype", "family")
NUMERIC = (
    "log_flops",
    "log_bytes",
    "log_intensity",
    "log_ops",
    "log_params",
    "batch_size",
    "seq_len",
    "log_peak",
    "log_bandwidth",
    "log_compute_s",
    "log_memory_s",
    "log_overhead_s",
)
MODEL_VERSION = "gbm-1"


def features(work: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """The predictor's inputs for rows with flops, bytes, ops, peak and bandwidth (`fit_rows`)."""
    out = pd.DataFrame(index=work.index)
    flops, moved, ops = (work[name].astype(float) for name in ("flops", "bytes", "ops"))
    out["log_flops"], out["log_bytes"], out["log_ops"] = np.log(flops), np.log(moved), np.log(ops)
    out["log_intensity"] = np.log(flops / moved)
    out["log_params"] = np.log(work["params"].astype(float).clip(lower=1)) if "params" in work else np.nan
    out["batch_size"] = work["batch_size"].astype(float)
    out["seq_len"] = work["seq_len"].astype(float)
    out["log_peak"], out["log_bandwidth"] = np.log(work["peak"].astype(float)), np.log(work["bandwidth"].astype(float))
    compute, memory, overhead = _roofline_terms(work, calibration)
    out["log_compute_s"], out["log_memory_s"], out["log_overhead_s"] = np.log(compute), np.log(memory), np.log(overhead)
    for name in CATEGORICAL:
        out[name] = pd.Categorical(work[name].fillna("other").astype(str))
    return out[[*NUMERIC, *CATEGORICAL]]


def _roofline_terms(work: pd.DataFrame, calibration: Calibration) -> tuple[np.ndarray, ...]:
    compute, memory, overhead = (np.full(len(work), np.nan) for _ in range(3))
    for index, row in enumerate(work.itertuples(index=False)):
        params = calibration.params_for(row.hardware, row.family, row.dtype)
        if params is None:
            continue
        compute[index] = row.flops / (params.e_compute * row.peak)
        memory[index] = row.bytes / (params.e_memory * row.bandwidth)
        overhead[index] = row.ops * params.overhead_s
    return compute, memory, overhead


@dataclass
class Predictor:
    calibration: Calibration
    booster: object  # a fitted HistGradientBoostingRegressor
    categories: dict[str, list[str]]
    log_bounds: dict[str, tuple[float, float]]  # family (or "*") -> residual quantiles for the interval

    def predict(self, work: pd.DataFrame) -> pd.DataFrame:
        """`roofline_s` (calibrated), `predicted_s`, `lower_s` and `upper_s` per row of `work`."""
        roofline = self.calibration.predict(work)
        inputs = features(work, self.calibration)
        for name, categories in self.categories.items():
            inputs[name] = pd.Categorical(inputs[name].astype(str), categories=categories)
        predicted = roofline * np.exp(self.booster.predict(inputs))
        bounds = [self.log_bounds.get(family, self.log_bounds["*"]) for family in work["family"].fillna("other")]
        low, high = np.array([bound[0] for bound in bounds]), np.array([bound[1] for bound in bounds])
        return pd.DataFrame(
            {"roofline_s": roofline, "predicted_s": predicted, "lower_s": predicted * np.exp(low),
             "upper_s": predicted * np.exp(high)},
            index=work.index,
        )  # fmt: skip


def _booster():
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Few hundred rows: shallow trees, many small steps, leaves of at least 5 rows.
    return HistGradientBoostingRegressor(
        max_iter=300, learning_rate=0.05, max_depth=3, min_samples_leaf=5, categorical_features="from_dtype",
        random_state=0,
    )  # fmt: skip


def _fit_point(work: pd.DataFrame, bootstrap: int) -> tuple[Calibration, object, dict[str, list[str]]]:
    calibration = calibrate(work, bootstrap=bootstrap)
    inputs = features(work, calibration)
    target = np.log(work["seconds"].to_numpy(float) / calibration.predict(work))
    booster = _booster().fit(inputs, target)
    return calibration, booster, {name: list(inputs[name].cat.categories) for name in CATEGORICAL}


def predict_point(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Seconds for `test` from a predictor fitted on `train` alone (calibration included)."""
    calibration, booster, categories = _fit_point(train, bootstrap=0)
    return Predictor(calibration, booster, categories, {"*": (0.0, 0.0)}).predict(test)["predicted_s"].to_numpy()


def residual_bounds(work: pd.DataFrame, out_of_fold_s: np.ndarray) -> dict[str, tuple[float, float]]:
    """The conformal interval's log bounds per family (and pooled, `*`) from held-out residuals."""
    residuals = np.log(work["seconds"].to_numpy(float) / out_of_fold_s)
    keep = np.isfinite(residuals)
    tail = (1 - INTERVAL) / 2
    bounds = {"*": tuple(np.quantile(residuals[keep], [tail, 1 - tail]).tolist())}
    for family in sorted(work["family"].dropna().unique()):
        mine = residuals[keep & (work["family"] == family).to_numpy()]
        if mine.size >= MIN_FAMILY_RESIDUALS:
            bounds[family] = tuple(np.quantile(mine, [tail, 1 - tail]).tolist())
    return bounds


@dataclass
class TrainedPredictor:
    predictor: Predictor
    out_of_fold_s: np.ndarray  # each training row's prediction by a model that never saw its group


def train(work: pd.DataFrame, bootstrap: int = 0) -> TrainedPredictor:
    """Fit on every row of `work`, with intervals from its held-out-by-architecture residuals."""
    held_out = out_of_fold(work, predict_point)
    calibration, booster, categories = _fit_point(work, bootstrap)
    return TrainedPredictor(Predictor(calibration, booster, categories, residual_bounds(work, held_out)), held_out)
