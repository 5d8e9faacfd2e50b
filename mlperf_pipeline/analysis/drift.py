"""Drift of the calibrated roofline: has a fitted parameter moved beyond what its noise explains?

Two tests per (hardware, family, dtype, parameter), on the log of the parameter:

- against the previous fit: z = (log new − log previous) / √(se_new² + se_previous²), each se from
  its 95% bootstrap interval (width / 2 × 1.96). The two-sided p-values of all parameters tested at
  one fit are corrected together (Holm), so testing ten families × three parameters does not
  flag one by chance at every fit; drift when the corrected p ≤ `ALPHA`;
- a change point in the parameter's series over the fits (`steps.accepted_steps`, with the median
  se as the noise scale and its own strict gates, p ≤ 0.0005 per series), once it has
  `steps.MIN_HISTORY` fits: drift when the latest fit makes a step appear that the series without
  it did not show (a step needs several fits after it before its test can pass).

A parameter without an interval (a family of fewer than 3 types) is not tested: its movement
cannot be told from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.steps import MIN_HISTORY, accepted_steps

ALPHA = 0.05
Z_95 = 1.959964
KEY = ("hardware", "family", "dtype", "parameter")


@dataclass(frozen=True)
class Drift:
    key: tuple[str, str, str, str]
    method: str  # `previous_fit` or `change_point`
    p_value: float  # Holm-corrected for `previous_fit`; the step's own for `change_point`
    change_pct: float  # the parameter's change, new against previous (or against the step's baseline)

    def describe(self) -> str:
        hardware, family, dtype, parameter = self.key
        return f"{hardware}/{family}/{dtype} {parameter} {self.change_pct:+.1f}% ({self.method}, p={self.p_value:.2g})"


def _log_se(low, high) -> float | None:
    if low is None or high is None or pd.isna(low) or pd.isna(high) or low <= 0 or high <= 0:
        return None
    return (math.log(high) - math.log(low)) / (2 * Z_95)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error ≤ α over all the tests, any dependence."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def against_previous(previous: pd.DataFrame, current: pd.DataFrame, alpha: float = ALPHA) -> list[Drift]:
    """Parameters of `current` (one fit's rows) that moved beyond both fits' intervals' noise
    since `previous` (the fit before), Holm-corrected over every parameter tested."""
    from scipy.special import ndtr

    merged = current.merge(previous, on=list(KEY), suffixes=("", "_previous"))
    tests = []
    for row in merged.itertuples(index=False):
        se_new, se_old = _log_se(row.ci_low, row.ci_high), _log_se(row.ci_low_previous, row.ci_high_previous)
        if se_new is None or se_old is None or row.value <= 0 or row.value_previous <= 0:
            continue
        change = math.log(row.value) - math.log(row.value_previous)
        z = change / math.sqrt(se_new**2 + se_old**2) if se_new or se_old else math.inf
        tests.append((tuple(getattr(row, name) for name in KEY), 2 * float(ndtr(-abs(z))), change))
    adjusted = holm([p for _, p, _ in tests])
    return [
        Drift(key, "previous_fit", p, (math.exp(change) - 1) * 100)
        for (key, _, change), p in zip(tests, adjusted)
        if p <= alpha
    ]


def change_points(history: pd.DataFrame) -> list[Drift]:
    """Steps that begin among the latest fits of each parameter's series (`history`: every fit's
    rows, oldest first by `fitted_at`)."""
    found = []
    for key, series in history.sort_values("fitted_at").groupby(list(KEY), sort=True):
        values = series["value"].to_numpy(float)
        ses = [_log_se(low, high) for low, high in zip(series["ci_low"], series["ci_high"])]
        ses = [se for se in ses if se]
        if values.size < MIN_HISTORY or not ses or np.any(values <= 0):
            continue
        sigma = float(np.median(ses))
        before = {step.index for step in accepted_steps(np.log(values[:-1]), sigma)[0]}
        for step in accepted_steps(np.log(values), sigma)[0]:
            if step.index not in before:
                found.append(Drift(tuple(key), "change_point", step.p_value, step.change_pct))
    return found
