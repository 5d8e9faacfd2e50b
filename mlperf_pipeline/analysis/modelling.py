"""The modelling assets' library side: fit and judge from what the store holds, write nothing.

`roofline_calibration` calls `calibrate_stored`: the current measured rows that have counts and a
measured roof (`calibration.fit_rows`), one fit with bootstrap intervals, the drift tests against
the stored history (`drift.py`), and the calibrated roofline's accuracy held out by architecture
(`validation.py`) beside the uncalibrated roofline's and a FLOPs-only fit's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlperf_pipeline.analysis.calibration import BOOTSTRAP, Calibration, calibrate, fit_rows
from mlperf_pipeline.analysis.drift import KEY, Drift, drifts
from mlperf_pipeline.analysis.roofline import rooflines_of
from mlperf_pipeline.analysis.validation import (
    Accuracy,
    accuracy,
    calibrated_out_of_fold,
    flops_only_out_of_fold,
    groups_of,
    uncalibrated_seconds,
)
from mlperf_pipeline.store.modelling import read_calibration_history, read_latest_ceilings
from mlperf_pipeline.store.results import DbPath, read_current_results
from mlperf_pipeline.store.schema import MEASURED_STATUSES


def stored_work(db_path: DbPath) -> pd.DataFrame:
    """The current measured rows (`ok` or `invalid`, one per series) a calibration can use."""
    rows = read_current_results(db_path)
    rows = rows[rows["status"].isin([str(status) for status in MEASURED_STATUSES])]
    return fit_rows(rows, rooflines_of(read_latest_ceilings(db_path)))


@dataclass
class CalibrationRun:
    calibration: Calibration
    rows: pd.DataFrame  # `calibration_params` rows of this fit, drift marked
    drifts: list[Drift]
    work: pd.DataFrame
    held_out: dict[str, Accuracy] = field(default_factory=dict)  # method -> accuracy, when ≥ 2 groups


def calibrate_stored(db_path: DbPath, fitted_at, run_id: str, bootstrap: int = BOOTSTRAP) -> CalibrationRun | None:
    """One fit of the stored rows, judged against the stored history; None when no row can be
    fitted (no ceilings measured yet, or no measured row with counts)."""
    work = stored_work(db_path)
    if work.empty:
        return None
    calibration = calibrate(work, bootstrap=bootstrap)
    rows = pd.DataFrame(calibration.param_rows(fitted_at, run_id))
    rows["n_types"] = [calibration.n_types[group] for group in _groups_of_rows(calibration, rows)]
    found = drifts(calibration, work, read_calibration_history(db_path))
    _mark(rows, found)
    return CalibrationRun(calibration, rows, found, work, _held_out(work))


def _groups_of_rows(calibration: Calibration, rows: pd.DataFrame):
    lookup = {(group.hardware, group.family, group.dtype): group for group in calibration.params}
    return [lookup[key] for key in zip(rows["hardware"], rows["family"], rows["dtype"])]


def _mark(rows: pd.DataFrame, found: list[Drift]) -> None:
    """A drifted family's time moved: every parameter row of its group is marked."""
    by_key = {drift.key: drift for drift in found}
    keys = list(zip(*(rows[name] for name in KEY)))
    rows["drift"] = [key in by_key for key in keys]
    rows["drift_method"] = [by_key[key].method if key in by_key else None for key in keys]
    rows["drift_p_value"] = [by_key[key].p_value if key in by_key else None for key in keys]


def _held_out(work: pd.DataFrame) -> dict[str, Accuracy]:
    if len(set(groups_of(work))) < 2:
        return {}
    measured = work["seconds"].to_numpy(float)
    return {
        "flops_only": accuracy(measured, flops_only_out_of_fold(work)),
        "roofline": accuracy(measured, uncalibrated_seconds(work)),
        "calibrated_roofline": accuracy(measured, calibrated_out_of_fold(work)),
    }
