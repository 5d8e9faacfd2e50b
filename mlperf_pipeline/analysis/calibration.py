"""The calibrated roofline: efficiencies and a per-operator overhead fitted to measured latencies.

    predicted seconds = max(F / (e_c · peak), B / (e_m · bandwidth)) + ops · o

F, B and ops are a row's FLOPs, bytes and operator count (`skillsets/runtime/counting.py`); peak
and bandwidth the hardware's measured ceilings (`roofline.py`). e_c and e_m are the fractions of
the roofs the workload reaches; o is the seconds each dispatched operator costs, which dominates
small models on cpu. They are fitted per (hardware, family, dtype):

- on the log-ratio loss, Σ (log measured − log predicted)²: a 10% miss costs the same on a 1 ms and
  a 1 s model, as the ±10% accuracy targets count it. Parameters are fitted in logs, so each stays
  positive (scipy's `least_squares`);
- pooled: first one fit per (hardware, dtype) over every family, then each family's own fit. A
  family of fewer than `OWN_FIT_TYPES` model types is pulled towards that pooled fit by a penalty
  on its log-parameters worth the types it lacks (one type: two types' worth of its rows), so one
  or two types do not fit their own noise; from `OWN_FIT_TYPES` types on, a family follows its data;
- with 95% intervals from a bootstrap that resamples whole model types (the rows of one type are
  not independent evidence) within each family, percentiles of the refitted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.roofline import Roofline

PARAMETERS = ("e_compute", "e_memory", "overhead_s")
POOLED = "*"  # the family of a (hardware, dtype)'s pooled fit
OWN_FIT_TYPES = 3
BOOTSTRAP = 200
CONFIDENCE = 0.95
MIN_TYPES_FOR_INTERVAL = 3
_START = np.log([0.3, 0.3, 5e-6])  # ~what this cpu shows; only a starting point
_BOUNDS = (np.log([1e-4, 1e-4, 1e-9]), np.log([2.0, 2.0, 1e-2]))  # efficiencies a little over 1: ceilings are noisy


@dataclass(frozen=True)
class Params:
    e_compute: float
    e_memory: float
    overhead_s: float

    @classmethod
    def of_logs(cls, logs: np.ndarray) -> Params:
        return cls(*np.exp(logs).tolist())

    @property
    def logs(self) -> np.ndarray:
        return np.log([self.e_compute, self.e_memory, self.overhead_s])


def predicted_seconds(params: Params, work: pd.DataFrame) -> np.ndarray:
    """The calibrated roofline's time for each row of `work` (columns flops, bytes, ops, peak, bandwidth)."""
    compute = work["flops"].to_numpy(float) / (params.e_compute * work["peak"].to_numpy(float))
    memory = work["bytes"].to_numpy(float) / (params.e_memory * work["bandwidth"].to_numpy(float))
    return np.maximum(compute, memory) + work["ops"].to_numpy(float) * params.overhead_s


def fit_rows(rows: pd.DataFrame, rooflines: dict[str, Roofline]) -> pd.DataFrame:
    """The rows a calibration can use: latency rows with counts and a measured roof for their
    hardware and dtype, with `seconds`, `peak` and `bandwidth` added."""
    needed = rows["flops"].notna() & rows["bytes"].notna() & rows["ops"].notna() & rows["latency_ms_p50"].notna()
    usable = rows[needed & (rows["scenario"] == "latency")].copy()
    usable["peak"] = [_peak(rooflines, hardware, dtype) for hardware, dtype in zip(usable["hardware"], usable["dtype"])]
    usable["bandwidth"] = [rooflines[h].bytes_per_s if h in rooflines else np.nan for h in usable["hardware"]]
    usable["seconds"] = usable["latency_ms_p50"] / 1e3
    return usable[usable["peak"].notna() & usable["bandwidth"].notna()].reset_index(drop=True)


def _peak(rooflines: dict[str, Roofline], hardware: str, dtype: str) -> float:
    roofline = rooflines.get(hardware)
    peak = roofline.peak(dtype) if roofline is not None else None
    return np.nan if peak is None else peak


def fit(work: pd.DataFrame, prior: Params | None = None, prior_weight: float = 0.0) -> Params:
    """Least squares on the log ratio, optionally pulled towards `prior` (weight in rows' worth)."""
    from scipy.optimize import least_squares

    measured = np.log(work["seconds"].to_numpy(float))
    centre = prior.logs if prior is not None else None

    def residuals(logs: np.ndarray) -> np.ndarray:
        misses = measured - np.log(predicted_seconds(Params.of_logs(logs), work))
        if centre is None or prior_weight <= 0:
            return misses
        return np.concatenate([misses, np.sqrt(prior_weight) * (logs - centre)])

    start = np.clip(centre if centre is not None else _START, _BOUNDS[0] + 1e-9, _BOUNDS[1] - 1e-9)
    return Params.of_logs(least_squares(residuals, start, bounds=_BOUNDS, method="trf").x)


@dataclass(frozen=True)
class Group:
    hardware: str
    family: str
    dtype: str


def _fit_groups(work: pd.DataFrame, types_of: dict[Group, int] | None = None) -> dict[Group, Params]:
    """The pooled fit of each (hardware, dtype), then each family's, pulled towards its pool by a
    penalty that depends on its number of types (`types_of`, default: as many as `work` holds)."""
    fitted: dict[Group, Params] = {}
    for (hardware, dtype), pool in work.groupby(["hardware", "dtype"], sort=True):
        pooled = fit(pool)
        fitted[Group(hardware, POOLED, dtype)] = pooled
        for family, rows in pool.groupby("family", sort=True):
            # The penalty is in rows: the missing types' worth of the family's rows per type.
            group = Group(hardware, family, dtype)
            types = max((types_of or {}).get(group) or rows["model_type"].nunique(), 1)
            weight = max(OWN_FIT_TYPES - types, 0) * len(rows) / types
            fitted[group] = fit(rows, pooled, weight)
    return fitted


@dataclass(frozen=True)
class Calibration:
    params: dict[Group, Params]
    intervals: dict[Group, dict[str, tuple[float, float] | None]]
    n_points: dict[Group, int]
    n_types: dict[Group, int]
    draws: dict[Group, np.ndarray]  # the bootstrap's refitted log-parameters (one row per draw), for the drift test

    def params_for(self, hardware: str, family: str, dtype: str) -> Params | None:
        """A family's parameters; else its hardware's pooled ones for the dtype (a family never
        measured); else the same from the dtype measured most on that hardware (a dtype never
        measured: its own peak, the efficiencies of another, an extrapolation)."""
        for candidate in (dtype, *self._dtypes_on(hardware)):
            found = self.params.get(Group(hardware, family, candidate)) or self.params.get(
                Group(hardware, POOLED, candidate)
            )
            if found is not None:
                return found
        return None

    def _dtypes_on(self, hardware: str) -> list[str]:
        pooled = [group for group in self.params if group.hardware == hardware and group.family == POOLED]
        return [group.dtype for group in sorted(pooled, key=lambda group: -self.n_points[group])]

    def predict(self, work: pd.DataFrame) -> np.ndarray:
        """Calibrated seconds per row (NaN where its hardware and dtype were never fitted)."""
        out = np.full(len(work), np.nan)
        for index, row in enumerate(work[["hardware", "family", "dtype"]].itertuples(index=False)):
            params = self.params_for(row.hardware, row.family, row.dtype)
            if params is not None:
                out[index] = predicted_seconds(params, work.iloc[[index]])[0]
        return out

    def param_rows(self, fitted_at, run_id: str) -> list[dict]:
        """`calibration_params` rows: one per group and parameter, with its interval."""
        rows = []
        for group, params in sorted(
            self.params.items(), key=lambda item: (item[0].hardware, item[0].dtype, item[0].family)
        ):
            for name in PARAMETERS:
                interval = self.intervals[group].get(name)
                rows.append(
                    {
                        "fitted_at": fitted_at,
                        "hardware": group.hardware,
                        "family": group.family,
                        "dtype": group.dtype,
                        "parameter": name,
                        "value": getattr(params, name),
                        "ci_low": interval[0] if interval else None,
                        "ci_high": interval[1] if interval else None,
                        "n_points": self.n_points[group],
                        "run_id": run_id,
                    }
                )
        return rows


def calibrate(work: pd.DataFrame, bootstrap: int = BOOTSTRAP, seed: int = 0) -> Calibration:
    """Fit every group of `work` (from `fit_rows`), with bootstrap intervals over model types."""
    if work.empty:
        raise ValueError("no rows to calibrate on: none has FLOPs, bytes, operators and measured ceilings")
    params = _fit_groups(work)
    draws: dict[Group, list[np.ndarray]] = {group: [] for group in params}
    rows_of = {group: members(work, group) for group in params}
    types_of = {group: rows["model_type"].nunique() for group, rows in rows_of.items()}
    # Resampled within each family, which keeps its number of types, and refitted with the
    # penalty the real fit had: a resample that happens to hold two distinct types of a family of
    # six would otherwise be pulled to the pool, a swing the real fit can never make.
    strata = [np.array(sorted(rows["model_type"].unique())) for _, rows in work.groupby("family", sort=True)]
    by_type = {model_type: rows for model_type, rows in work.groupby("model_type")}
    generator = np.random.default_rng(seed)
    for _ in range(bootstrap if work["model_type"].nunique() >= MIN_TYPES_FOR_INTERVAL else 0):
        chosen = [model_type for stratum in strata for model_type in generator.choice(stratum, size=stratum.size)]
        resampled = pd.concat([by_type[model_type] for model_type in chosen], ignore_index=True)
        for group, refitted in _fit_groups(resampled, types_of).items():
            draws[group].append(refitted.logs)
    tail = (1 - CONFIDENCE) / 2 * 100
    intervals = {}
    for group, logs in draws.items():
        if not logs or len(logs) < bootstrap / 2 or types_of[group] < MIN_TYPES_FOR_INTERVAL:
            intervals[group] = {}  # too few types for a bootstrap to mean anything
            continue
        low, high = np.exp(np.percentile(np.array(logs), [tail, 100 - tail], axis=0))
        intervals[group] = {name: (float(low[i]), float(high[i])) for i, name in enumerate(PARAMETERS)}
    return Calibration(
        params,
        intervals,
        {group: len(rows) for group, rows in rows_of.items()},
        types_of,
        {group: np.array(logs) for group, logs in draws.items() if logs},
    )


def members(work: pd.DataFrame, group: Group) -> pd.DataFrame:
    """The rows of `work` a group was fitted to: its family's, or for the pool every family's."""
    rows = work[(work["hardware"] == group.hardware) & (work["dtype"] == group.dtype)]
    return rows if group.family == POOLED else rows[rows["family"] == group.family]
