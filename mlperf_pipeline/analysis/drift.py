"""Drift of the calibrated roofline: does a family's fit now predict a different time for the same work?

What is tested is each (hardware, family, dtype)'s *time*: the mean log of the calibrated
roofline's predicted seconds over that family's rows of the current fit (its workload today),
under each fit's parameters. Every fit is judged on the same rows, so a change of workload (a type
added, a batch size dropped) is not drift.

Not the parameters one by one. e_compute and the per-operator overhead trade against each other (a
slower family can be fitted by either), and e_memory is barely identified where a family is compute
bound, so single parameters move along flat directions from fit to fit while the predictions do
not. On the modelling data set (2026-12-02, 194 rows, one family's rows made 20% slower) a test
per parameter flagged speech/audio's e_memory −90% and missed the slowed decoder family, whose
change was split between two wide intervals (README: what this test finds on the same data).

- against the previous fit, net of the hardware's common change: what moves every family of a
  (hardware, dtype) together is the host's speed between the fits, or re-measured ceilings, not
  one family's calibration. Measured: two collections of the same 63 types 35 min apart, on this
  host, differ by a median −7% in measured time (families −2% to −12%) and −15% in the measured
  matmul ceiling, so every family's time moved. The common change is the median of the judged families' changes
  (from 3 families on; its noise enters the test), it is reported with each drift, and what moves
  every row is the regression detector's and the ceilings' business. Then
  z = (t_new − t_previous − common) / (√2 · se), with se the standard deviation
  of t_new over the current fit's bootstrap draws (model types resampled within each family). The
  previous fit's se on these rows is taken as equal (the same design and noise), hence √2. An se
  estimated from n types is itself uncertain (from 6 types, over 30 seeds of synthetic rows, it
  came out 0.47 to 1.9 times the seed-to-seed spread of t, median 0.89), so z is read from
  Student's t with n − 1 degrees of freedom. The two-sided p-values of all families tested at one
  fit are corrected together (Holm), so testing ten families does not flag one by chance at every
  fit; drift when the corrected p ≤ `ALPHA`. On those synthetic rows 0 of 29 unchanged
  re-measurements drifted, and 28 of 29 with one family 20% slower flagged that family alone;
- a change point in t's series over the stored fits (`steps.accepted_steps`, with its own strict
  gates, p ≤ 0.0005 per series), once there are `steps.MIN_HISTORY` fits: drift when the latest
  fit makes a step appear that the series without it did not show. The series is taken net of the
  hardware's common movement, as above: at each fit, the median over the (hardware, dtype)'s
  families of their time then against now (where at least 3 families were judged; the series
  starts at the first such fit), and the noise scale is se with that median's noise added. A host
  that became 7% slower from one day to the next, as measured above, is then one step in every
  family's raw series and in none of the netted ones.

Not tested: the pooled fit (family `*`), a mixture whose time moves with any of its families'; and
a family without a bootstrap interval (fewer than 3 types), whose fit is pulled towards the pool
and whose movement cannot be told from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.calibration import (
    PARAMETERS,
    POOLED,
    Calibration,
    Group,
    Params,
    members,
    predicted_seconds,
)
from mlperf_pipeline.analysis.steps import MIN_HISTORY, accepted_steps

ALPHA = 0.05
MIN_FAMILIES_FOR_COMMON = 3  # fewer families on a hardware: no common change is taken out
KEY = ("hardware", "family", "dtype")


@dataclass(frozen=True)
class Drift:
    key: tuple[str, str, str]  # hardware, family, dtype
    method: str  # `previous_fit` or `change_point`
    p_value: float  # Holm-corrected for `previous_fit`; the step's own for `change_point`
    change_pct: float  # the family's predicted time, new against previous (or against the step's baseline)
    common_pct: float = 0.0  # the hardware's common change, which `change_pct` is beyond (`previous_fit`)

    def describe(self) -> str:
        hardware, family, dtype = self.key
        beyond = f" beyond the hardware's common {self.common_pct:+.1f}%" if self.common_pct else ""
        return f"{hardware}/{family}/{dtype} predicted time {self.change_pct:+.1f}%{beyond} ({self.method}, p={self.p_value:.2g})"


@dataclass(frozen=True)
class FamilyTime:
    """One family's log time on today's rows: under each stored fit (oldest first), and now."""

    key: tuple[str, str, str]
    stored: list[float]
    now: float
    se: float  # of `now`, over the bootstrap draws
    types: int  # the model types the se was estimated from

    @property
    def change(self) -> float:
        """The log-time change since the fit before (callers check `stored` first)."""
        return self.now - self.stored[-1]


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error ≤ α over all the tests, any dependence."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _log_time(params: Params, rows: pd.DataFrame) -> float:
    return float(np.mean(np.log(predicted_seconds(params, rows))))


def stored_fits(history: pd.DataFrame) -> list[dict[tuple[str, str, str], Params]]:
    """Each stored fit's parameters (`calibration_params` rows) by (hardware, family, dtype), oldest first."""
    if history.empty:
        return []
    fits = []
    ordered = history.sort_values("fitted_at", kind="stable")
    for _, rows in ordered.groupby("run_id", sort=False):
        wide = rows.pivot_table(index=list(KEY), columns="parameter", values="value", aggfunc="last")
        complete = wide.reindex(columns=list(PARAMETERS)).dropna()
        fits.append({key: Params(*(float(row[name]) for name in PARAMETERS)) for key, row in complete.iterrows()})
    return fits


def family_times(calibration: Calibration, work: pd.DataFrame, history: pd.DataFrame) -> list[FamilyTime]:
    """The time of every family the drift tests judge (own interval, not the pool), under the
    stored fits (`history`, every earlier fit's `calibration_params` rows) and the current one."""
    fits = stored_fits(history)
    times = []
    for group, params in sorted(calibration.params.items(), key=lambda item: _key(item[0])):
        draws = calibration.draws.get(group)
        if group.family == POOLED or not calibration.intervals.get(group) or draws is None or len(draws) < 2:
            continue
        rows = members(work, group)
        key = _key(group)
        spread = [_log_time(Params.of_logs(logs), rows) for logs in draws]
        stored = [_log_time(fit[key], rows) for fit in fits if key in fit]
        se = float(np.std(spread, ddof=1))
        times.append(FamilyTime(key, stored, _log_time(params, rows), se, calibration.n_types[group]))
    return times


def _key(group: Group) -> tuple[str, str, str]:
    return (group.hardware, group.family, group.dtype)


def common_changes(times: list[FamilyTime]) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (hardware, dtype) with at least `MIN_FAMILIES_FOR_COMMON` families judged against a
    previous fit: the median of their log-time changes, and its variance (π/2 · se²/k for the
    median of k changes, se the median of theirs, each change's variance 2 · se²)."""
    by_roof: dict[tuple[str, str], list[FamilyTime]] = {}
    for time in times:
        if time.stored:
            by_roof.setdefault((time.key[0], time.key[2]), []).append(time)
    common = {}
    for roof, judged in by_roof.items():
        if len(judged) >= MIN_FAMILIES_FOR_COMMON:
            se = float(np.median([time.se for time in judged]))
            changes = [time.change for time in judged]
            common[roof] = (float(np.median(changes)), math.pi / 2 * 2 * se**2 / len(judged))
    return common


def against_previous(times: list[FamilyTime], alpha: float = ALPHA) -> list[Drift]:
    """Families whose time moved since the fit before, against the hardware's common change,
    beyond what the fits' noise explains; Holm-corrected over every family tested."""
    from scipy.stats import t as student

    common = common_changes(times)
    tests = []
    for time in times:
        if not time.stored:
            continue
        shift, shift_variance = common.get((time.key[0], time.key[2]), (0.0, 0.0))
        change = time.change - shift
        spread = math.sqrt(2 * time.se**2 + shift_variance)
        z = abs(change) / spread if spread > 0 else (math.inf if change else 0.0)
        tests.append((time.key, 2 * float(student.sf(z, df=max(time.types - 1, 1))), change, shift))
    adjusted = holm([test[1] for test in tests])
    return [
        Drift(key, "previous_fit", p, (math.exp(change) - 1) * 100, (math.exp(shift) - 1) * 100)
        for (key, _, change, shift), p in zip(tests, adjusted)
        if p <= alpha
    ]


def netted_series(times: list[FamilyTime]) -> dict[tuple[str, str, str], tuple[np.ndarray, float]]:
    """Each family's log-time series (stored fits, then now) net of its (hardware, dtype)'s common
    movement, and the noise scale of a netted point. The common movement `back` fits ago is the
    median over the families judged then of their time then less their time now; fits where fewer
    than `MIN_FAMILIES_FOR_COMMON` families were judged are left out of every series of the roof.
    With fewer families on the roof than that, the series are their own, with scale se."""
    by_roof: dict[tuple[str, str], list[FamilyTime]] = {}
    for time in times:
        by_roof.setdefault((time.key[0], time.key[2]), []).append(time)
    netted = {}
    for judged in by_roof.values():
        if len(judged) < MIN_FAMILIES_FOR_COMMON:
            netted.update({time.key: (np.array([*time.stored, time.now]), time.se) for time in judged})
            continue
        common = [0.0]  # `back` fits before now; now against itself moves by nothing
        for back in range(1, max(len(time.stored) for time in judged) + 1):
            moves = [time.stored[-back] - time.now for time in judged if len(time.stored) >= back]
            if len(moves) < MIN_FAMILIES_FOR_COMMON:
                break
            common.append(float(np.median(moves)))
        se = float(np.median([time.se for time in judged]))
        common_variance = math.pi / 2 * 2 * se**2 / len(judged)
        for time in judged:
            series = np.array([*time.stored, time.now])[-len(common) :]
            shared = np.array(common[: series.size])[::-1]
            netted[time.key] = (series - shared, math.sqrt(time.se**2 + common_variance))
    return netted


def change_points(times: list[FamilyTime]) -> list[Drift]:
    """Steps in a family's time over the fits, net of the common movement, that the current fit makes appear."""
    found = []
    for key, (series, scale) in netted_series(times).items():
        if series.size < MIN_HISTORY or scale <= 0:
            continue
        before = {step.index for step in accepted_steps(series[:-1], scale)[0]}
        for step in accepted_steps(series, scale)[0]:
            if step.index not in before:
                found.append(Drift(key, "change_point", step.p_value, step.change_pct))
    return found


def drifts(calibration: Calibration, work: pd.DataFrame, history: pd.DataFrame) -> list[Drift]:
    """Both tests of the current fit (`calibration` of `work`) against the stored `history`."""
    times = family_times(calibration, work, history)
    return against_previous(times) + change_points(times)
