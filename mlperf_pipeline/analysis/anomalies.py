"""Anomalous results: single runs far from what the rest of their series says they should be.

Until a performance predictor exists, a run's expected level comes from its series: the median of
the other runs in its segment (the runs between the change points that `steps.detect` accepts, so
a step moves the expectation with it instead of making every later run anomalous). That is an
out-of-fold prediction: the run being scored never takes part in its own expectation. Its residual
is scored against the series' robust spread of such residuals, 1.4826 x their median absolute
deviation, and flagged beyond `ANOMALY_Z` in either direction: a run far faster than its series
is as suspect as a slow one (a skipped layer, a cached result).

Nothing flags a fixed share: a series whose runs all agree has no anomaly at all. Pure functions
over a `steps.History`, and `anomaly_findings`, which turns stored runs into `anomalies` rows.

The performance predictor gives a second expectation, across models rather than along a series
(`predictor_anomalies`, method `predictor`): a type's current row against what a predictor trained
without its architecture group expects (the out-of-fold predictions of `predictor.train`), so even a
type measured once is judged, and by what the rest of the catalogue says its FLOPs, bytes and
operators should cost. A family with `MIN_GROUP_RESIDUALS` residuals is centred on its median miss
(a family the roofline misses by 10% everywhere is no anomaly) and scored in its own robust sigma;
a smaller one keeps the out-of-fold expectation of zero and the pooled sigma.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.noise import METRIC, history_of, series_runs
from mlperf_pipeline.analysis.steps import MIN_SIGMA_LOG, ROBUST_SIGMA_PER_MAD, History, detect
from mlperf_pipeline.store.schema import SERIES_KEY

# A run at least this many robust sigmas from its expectation is an anomaly. Chosen on the seeded
# histories of `benchmarks/detection.py` (30 runs, sigma estimated from each): at 3.0, 0.7-0.8% of
# clean runs and ~92% of runs 5 sigma out are flagged; at 3.5, 0.3% and only 84% (the MAD of 30
# residuals is itself uncertain by ~20%).
ANOMALY_Z = 3.0
# A run is scored only when its segment has at least this many other runs to predict it from.
MIN_OTHER_RUNS = 5
PREDICTOR_METHOD = "predictor"
# A family's own centre and sigma need this many out-of-fold residuals; fewer are scored pooled.
MIN_GROUP_RESIDUALS = 20


@dataclass(frozen=True)
class Anomaly:
    """One anomalous run: where, its level and expected level (ms), its robust z-score (> 0: slower
    than expected) and the sigma (percent) it was judged in."""

    index: int
    value_ms: float
    expected_ms: float
    robust_z: float
    sigma_pct: float


def expected_levels(log_levels: np.ndarray, breaks: Sequence[int]) -> np.ndarray:
    """Each run's leave-one-out expectation (log): the median of the other runs of its segment
    (`breaks`: the first index of each new segment); NaN where the segment is too short."""
    expected = np.full(log_levels.size, np.nan)
    bounds = [0, *sorted(breaks), log_levels.size]
    for start, end in itertools.pairwise(bounds):
        if end - start - 1 >= MIN_OTHER_RUNS:
            expected[start:end] = _leave_one_out_medians(log_levels[start:end])
    return expected


def _leave_one_out_medians(values: np.ndarray) -> np.ndarray:
    """For each value, the median of all the others, from one sort: without the value of rank r,
    the others' j-th smallest is the j-th smallest of all when j < r, else the (j+1)-th."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=int)
    ranks[order] = np.arange(values.size)
    ordered = values[order]
    others = values.size - 1

    def nth_of_others(j: int) -> np.ndarray:
        return np.where(j < ranks, ordered[j], ordered[min(j + 1, values.size - 1)])

    if others % 2:
        return nth_of_others(others // 2)
    return (nth_of_others(others // 2 - 1) + nth_of_others(others // 2)) / 2.0


def robust_sigma(residuals: np.ndarray) -> float:
    """1.4826 x the median absolute residual (log units), at least `MIN_SIGMA_LOG`. About zero, not
    about the residuals' median: an out-of-fold residual is expected to be zero, and the z-score is
    the residual itself over this sigma."""
    if residuals.size == 0:
        return MIN_SIGMA_LOG
    return max(ROBUST_SIGMA_PER_MAD * float(np.median(np.abs(residuals))), MIN_SIGMA_LOG)


def anomalies_in(history: History, breaks: Sequence[int], threshold: float = ANOMALY_Z) -> tuple[list[Anomaly], int]:
    """The runs of one series whose robust z-score against their expectation is at least
    `threshold` in size, oldest first, and how many runs were scored (had an expectation);
    `breaks`: the series' accepted change points."""
    if threshold <= 0:
        raise ValueError(f"the anomaly threshold must be a positive number of sigmas, got {threshold!r}")
    y = history.log_levels
    expected = expected_levels(y, breaks)
    scored = np.flatnonzero(~np.isnan(expected))
    residuals = y[scored] - expected[scored]
    sigma = robust_sigma(residuals)
    found = []
    for index, residual in zip(scored, residuals):
        z = float(residual) / sigma
        if abs(z) >= threshold:
            found.append(
                Anomaly(
                    index=int(index),
                    value_ms=float(history.levels_ms[index]),
                    expected_ms=math.exp(float(expected[index])),
                    robust_z=z,
                    sigma_pct=(math.exp(sigma) - 1.0) * 100.0,
                )
            )
    return found, int(scored.size)


def anomaly_findings(results: pd.DataFrame, detected_at: datetime) -> tuple[pd.DataFrame, dict[str, int]]:
    """`anomalies` rows for every series of `results` (`benchmark_results` rows), and counts:
    series, runs scored, anomalies (slow and fast). A series too short for a verdict of the step
    detectors (`insufficient_history`) is not scored: its expectation would rest on a handful of runs."""
    rows: list[dict] = []
    counts = Counter(series=0, scored_runs=0, anomalies=0)
    for key, runs in series_runs(results):
        counts["series"] += 1
        history = history_of(runs)
        verdict = detect(history)
        if verdict.reason_code is not None:
            counts[verdict.reason_code] += 1
            continue
        breaks = [finding.index for finding in verdict.findings if finding.method == "change_point"]
        found, scored = anomalies_in(history, breaks)
        counts["scored_runs"] += scored
        for anomaly in found:
            counts["anomalies"] += 1
            counts["slower" if anomaly.robust_z > 0 else "faster"] += 1
            rows.append(_anomaly_row(dict(zip(SERIES_KEY, key)), runs, anomaly, detected_at))
    return pd.DataFrame(rows), dict(counts)


def _anomaly_row(key: dict, runs: pd.DataFrame, anomaly: Anomaly, detected_at: datetime) -> dict:
    return {
        **key,
        "detected_at": detected_at,
        "metric": METRIC,
        "value": anomaly.value_ms,
        "expected": anomaly.expected_ms,
        "robust_z": anomaly.robust_z,
        "method": "series",
        "noise_sigma_pct": anomaly.sigma_pct,
        "run_id": runs["run_id"].iloc[anomaly.index],
    }


def predictor_anomalies(
    work: pd.DataFrame, out_of_fold_s: np.ndarray, detected_at: datetime, threshold: float = ANOMALY_Z
) -> pd.DataFrame:
    """`anomalies` rows (method `predictor`) of the rows of `work` (`modelling.stored_work`) whose
    log residual against their out-of-fold prediction is at least `threshold` robust sigmas from
    their family's median residual."""
    residuals = np.log(work["seconds"].to_numpy(float) / np.asarray(out_of_fold_s, float))
    finite = np.isfinite(residuals)
    families = work["family"].fillna("other").to_numpy()
    # A family with enough residuals is centred on its own median miss and scored in its own sigma;
    # the others keep the out-of-fold expectation of zero and the pooled sigma of every deviation.
    centres, sigmas, pooled = np.zeros(residuals.size), np.full(residuals.size, np.nan), finite.copy()
    for family in np.unique(families[finite]):
        mine = finite & (families == family)
        if mine.sum() >= MIN_GROUP_RESIDUALS:
            centres[mine] = np.median(residuals[mine])
            sigmas[mine] = robust_sigma(residuals[mine] - centres[mine])
            pooled &= ~mine
    if pooled.any():
        sigmas[pooled] = robust_sigma(residuals[finite] - centres[finite])
    z = (residuals - centres) / sigmas
    flagged = np.flatnonzero(finite & (np.abs(np.nan_to_num(z)) >= threshold))
    rows = [
        {
            **{name: work[name].iloc[i] for name in (*SERIES_KEY, "run_id")},
            "detected_at": detected_at,
            "metric": METRIC,
            "value": float(work["seconds"].iloc[i]) * 1e3,
            "expected": float(out_of_fold_s[i]) * math.exp(centres[i]) * 1e3,
            "robust_z": float(z[i]),
            "method": PREDICTOR_METHOD,
            "noise_sigma_pct": (math.exp(sigmas[i]) - 1.0) * 100.0,
        }
        for i in flagged
    ]
    return pd.DataFrame(rows, columns=[*SERIES_KEY, "run_id", "detected_at", "metric", "value", "expected",
                                       "robust_z", "method", "noise_sigma_pct"])  # fmt: skip
