"""Run-to-run noise per series: the scale the regression detectors judge a change against.

Two runs of one configuration minutes apart can differ by far more than either run's own interval
(host episodes, process layout), so a change has to be weighed against how far the series' per-run
medians scatter, not against the spread of samples inside one run. The estimate is robust: the
median of the runs is the level, and 1.4826 x their median absolute deviation estimates sigma the
way a standard deviation would for normal data, without being pulled by one bad run.

Pure functions over numbers and frames; the `series_noise` view in the store computes the same in
SQL (a test keeps them in agreement).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.store.schema import MEASURED_STATUSES, SERIES_KEY, SERIES_NOISE_COLUMNS

# A normal distribution's sigma is 1.4826 times its median absolute deviation.
ROBUST_SIGMA_PER_MAD = 1.4826
# With fewer runs the MAD says nothing: of two runs it is half their gap, whatever the history.
MIN_RUNS = 3
NOISE_FRAME_COLUMNS = tuple(name for name, _ in SERIES_NOISE_COLUMNS)


@dataclass(frozen=True)
class RunToRunNoise:
    """A series' level (median of its per-run medians, ms) and robust run-to-run sigma in percent of it."""

    level_ms: float
    noise_pct: float | None
    n_runs: int


def run_to_run_noise(run_medians_ms: Sequence[float]) -> RunToRunNoise:
    """The level and relative run-to-run sigma of one series, from one median per run.

    level = median of the run medians; noise_pct = 1.4826 x MAD / level x 100, where MAD is the
    median absolute deviation from that median. With fewer than 3 runs there is not enough history
    to estimate it: noise_pct is None (the level is still given).

    Raises ValueError for an empty sequence and for a median that is not a finite positive number
    (a latency of 0, a negative one or NaN means the row is broken, not fast).
    """
    medians = np.array([_checked_median(value) for value in run_medians_ms], dtype=float)
    if medians.size == 0:
        raise ValueError("no runs: the run-to-run noise needs at least one per-run median")
    level = float(np.median(medians))
    if medians.size < MIN_RUNS:
        return RunToRunNoise(level_ms=level, noise_pct=None, n_runs=int(medians.size))
    mad = float(np.median(np.abs(medians - level)))
    return RunToRunNoise(level_ms=level, noise_pct=ROBUST_SIGMA_PER_MAD * mad / level * 100, n_runs=int(medians.size))


def _checked_median(value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"per-run median {value!r} is not a finite positive latency in ms")
    return number


def measured_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of `benchmark_results` that count as runs: measured (`ok` or `invalid`) with a latency."""
    measured = results["status"].isin([str(status) for status in MEASURED_STATUSES])
    return results[measured & results["latency_ms_p50"].notna()]


def noise_per_series(results: pd.DataFrame) -> pd.DataFrame:
    """One row per series (`SERIES_KEY`) of `benchmark_results` rows: the `series_noise` view's columns.

    Every series in `results` counts, whether or not its model type is still catalogued; failed
    and skipped rows are not runs. Only the runs of a series' latest bench version (that of its
    most recently measured run) count: a method change starts a new baseline. Sorted by the series key.
    """
    rows = [_series_row(key, runs) for key, runs in series_runs(results)]
    frame = pd.DataFrame(rows, columns=list(NOISE_FRAME_COLUMNS))
    return frame.astype({"n_runs": "int64", "level_ms": "float64", "noise_pct": "float64"})


def series_runs(results: pd.DataFrame) -> Iterator[tuple[tuple, pd.DataFrame]]:
    """Each series' key (a tuple in `SERIES_KEY` order; a null in it is a series too) and its
    measured runs under its latest bench version, oldest first (ties by run id), sorted by key."""
    for key, series in measured_runs(results).groupby(list(SERIES_KEY), dropna=False, sort=True):
        ordered = latest_version_runs(series).sort_values(["measured_at", "run_id"], kind="stable")
        yield key, ordered.reset_index(drop=True)


def latest_version_runs(series: pd.DataFrame) -> pd.DataFrame:
    """The runs of one series measured under its latest bench version (that of its newest run)."""
    measured_at = pd.to_datetime(series["measured_at"])
    latest = series["bench_version"].loc[measured_at.idxmax()] if measured_at.notna().any() else None
    if latest is None or pd.isna(latest):
        return series[series["bench_version"].isna()]
    return series[series["bench_version"] == latest]


def _series_row(key: tuple, series: pd.DataFrame) -> dict:
    noise = run_to_run_noise(series["latency_ms_p50"].tolist())
    measured_at = pd.to_datetime(series["measured_at"])
    return {
        **dict(zip(SERIES_KEY, key)),
        "bench_version": series["bench_version"].iloc[0],
        "n_runs": noise.n_runs,
        "level_ms": noise.level_ms,
        "noise_pct": noise.noise_pct,
        "first_measured_at": measured_at.min(),
        "last_measured_at": measured_at.max(),
    }
