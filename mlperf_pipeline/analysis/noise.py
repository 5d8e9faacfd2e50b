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

from mlperf_pipeline.analysis.steps import History
from mlperf_pipeline.store.schema import MEASURED_STATUSES, SERIES_KEY, SERIES_NOISE_COLUMNS

# A normal distribution's sigma is 1.4826 times its median absolute deviation.
ROBUST_SIGMA_PER_MAD = 1.4826
# With fewer runs the MAD says nothing: of two runs it is half their gap, whatever the history.
MIN_RUNS = 3
NOISE_FRAME_COLUMNS = tuple(name for name, _ in SERIES_NOISE_COLUMNS)
METRIC = "latency_ms_p50"  # a run's level: the mean of its per-process medians


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
    """Each series' key (a tuple in `SERIES_KEY` order; a null in it is a series too, keyed None)
    and its measured runs under its latest bench version, oldest first (ties by run id), sorted by key.

    One sort and one pass over the whole frame, not one per series: `regressions` walks 20,000
    series of 50 runs in a second or two this way, where a pandas group-by with a sort per group
    took a minute."""
    measured = measured_runs(results)
    if measured.empty:
        return
    keys = list(SERIES_KEY)
    ordered = measured.sort_values([*keys, "measured_at", "run_id"], kind="stable", na_position="last")
    ordered = ordered[_of_latest_version(ordered, _group_ids(ordered, keys))].reset_index(drop=True)
    groups = _group_ids(ordered, keys)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    key_values = ordered[keys].astype(object).where(ordered[keys].notna(), None).to_numpy()
    for start, end in zip(starts, [*starts[1:], len(ordered)]):
        yield tuple(key_values[start]), ordered.iloc[start:end].reset_index(drop=True)


def history_of(runs: pd.DataFrame) -> History:
    """A series' runs as the detectors take them: levels and per-process medians (none stored for
    a single-process or concurrent run: the level stands for itself)."""
    medians = [list(value) if has_values(value) else None for value in runs["process_medians_ms"]]
    return History.of(runs[METRIC].to_numpy(dtype=float), medians)


def has_values(value) -> bool:
    """Whether a stored list cell holds values (DuckDB gives NULL lists as None, NaN or pd.NA)."""
    return isinstance(value, list | tuple | np.ndarray) and len(value) > 0


def _group_ids(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    return frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()


def _of_latest_version(ordered: pd.DataFrame, groups: np.ndarray) -> np.ndarray:
    """Which rows (sorted by series, then time, untimed last) share the bench version of their
    series' most recently measured row (a series measured at no known time: its unversioned rows)."""
    timed = pd.to_datetime(ordered["measured_at"]).notna().to_numpy()
    positions = np.where(timed, np.arange(len(ordered)), -1)
    latest_position = pd.Series(positions).groupby(groups).transform("max").to_numpy()
    versions = ordered["bench_version"].to_numpy(dtype=object)
    latest = np.where(latest_position >= 0, versions[np.maximum(latest_position, 0)], None)
    both_null = pd.isna(versions) & pd.isna(latest)
    return both_null | (~pd.isna(versions) & (versions == latest))


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
