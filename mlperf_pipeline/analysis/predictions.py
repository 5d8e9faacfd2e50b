"""`performance_predictor`'s library side: train on the stored rows, predict the standard grid.

The training rows are the current measured rows with counts and roofs (`modelling.stored_work`),
less the `holdout` types. The grid (`prediction_grid.py`) covers every catalogue type, measured or
not; a grid point that was measured gets its measured multi-level median beside the prediction.
A prediction is `extrapolated` when its batch is larger than any trained on, its FLOPs lie
outside the trained range of its hardware (boosted trees are flat outside their data, and only
the roofline part of the prediction still scales there), or its dtype was never measured on its
hardware (its peak is measured, its efficiencies are another dtype's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.anomalies import predictor_anomalies
from mlperf_pipeline.analysis.modelling import stored_work
from mlperf_pipeline.analysis.prediction_grid import GRID_SEQ_LEN, count_requests, counted, grid_rows, skillsets_in
from mlperf_pipeline.analysis.predictor import MODEL_VERSION, train
from mlperf_pipeline.analysis.roofline import rooflines_of
from mlperf_pipeline.analysis.validation import Accuracy, accuracy, groups_of
from mlperf_pipeline.hardware.dtypes import DTYPES_BY_HARDWARE
from mlperf_pipeline.store.modelling import read_latest_ceilings
from mlperf_pipeline.store.results import DbPath

_MATCH = ["hardware", "model_type", "size", "batch_size", "seq_len", "dtype"]


@dataclass
class PredictionRun:
    rows: pd.DataFrame  # `predictions` rows
    trained_rows: int
    held_out: Accuracy | None  # the training rows predicted out of fold, held out by architecture
    holdout_accuracy: Accuracy | None  # the holdout types' measured rows against their predictions
    # `anomalies` rows of method `predictor`: training rows far from their out-of-fold prediction
    anomalies: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_version: str = MODEL_VERSION


def predict_stored(
    db_path: DbPath,
    entries: Iterable,
    skillsets_dir: Path,
    calls,
    *,
    holdout: set[str],
    predicted_at,
    run_id: str,
    progress: Callable[[str], None] = lambda message: None,
) -> PredictionRun | None:
    """Train and predict; None when fewer than two architecture groups can be trained on (no
    held-out residuals, so no honest interval)."""
    work = stored_work(db_path)
    training = work[~work["model_type"].isin(holdout)].reset_index(drop=True)
    if training.empty or len(set(groups_of(training))) < 2:
        return None
    trained = train(training)
    rooflines = rooflines_of(read_latest_ceilings(db_path))
    skillsets = {}
    for hardware in rooflines:
        skillsets.update(skillsets_in(skillsets_dir, hardware))
    counts = counted(db_path, count_requests(entries, skillsets), calls, progress)
    grid = grid_rows(counts, rooflines, DTYPES_BY_HARDWARE)
    rows = _prediction_rows(grid, trained.predictor, training, work, holdout, predicted_at, run_id, rooflines)
    measured_holdout = rows[rows["holdout"] & rows["measured_ms"].notna()]
    return PredictionRun(
        rows,
        len(training),
        accuracy(training["seconds"].to_numpy(), trained.out_of_fold_s),
        accuracy(measured_holdout["measured_ms"].to_numpy(), measured_holdout["predicted_ms"].to_numpy())
        if not measured_holdout.empty
        else None,
        predictor_anomalies(training, trained.out_of_fold_s, predicted_at),
    )


def _prediction_rows(grid, predictor, training, work, holdout, predicted_at, run_id, rooflines) -> pd.DataFrame:
    countable = (grid["flops"].notna() & grid["bytes"].notna() & grid["ops"].notna()).to_numpy()
    rows = grid.copy()
    for name in ("roofline_s", "predicted_s", "lower_s", "upper_s"):
        rows[name] = np.nan
    if countable.any():
        predicted = predictor.predict(grid[countable].reset_index(drop=True))
        for name in predicted.columns:
            rows.loc[countable, name] = predicted[name].to_numpy()
    rows["bound"] = [
        rooflines[hardware].bound(flops, moved, dtype) if ok else None
        for hardware, flops, moved, dtype, ok in zip(
            rows["hardware"], rows["flops"], rows["bytes"], rows["dtype"], countable
        )
    ]
    measured = work[[*_MATCH, "seconds"]].copy()
    # A model without a sequence (pixels, fixed-size audio features) stores none: it matches the grid's.
    measured["seq_len"] = measured["seq_len"].fillna(GRID_SEQ_LEN).astype(int)
    measured = measured.drop_duplicates(_MATCH)
    rows = rows.merge(measured, on=_MATCH, how="left")
    rows["measured_ms"] = rows.pop("seconds") * 1e3
    rows["holdout"] = rows["model_type"].isin(holdout)
    rows["extrapolated"] = _extrapolated(rows, training)
    for name in ("predicted", "roofline", "lower", "upper"):
        rows[f"{name}_ms"] = rows.pop(f"{name}_s") * 1e3
    rows["predicted_at"], rows["run_id"], rows["model_version"] = predicted_at, run_id, MODEL_VERSION
    columns = [
        "predicted_at", "hardware", "model_type", "size", "batch_size", "seq_len", "dtype", "predicted_ms",
        "roofline_ms", "model_version", "run_id", "family", "lower_ms", "upper_ms", "bound", "measured_ms",
        "holdout", "extrapolated", "flops", "bytes", "count_reason",
    ]  # fmt: skip
    return rows[columns]


def _extrapolated(rows: pd.DataFrame, training: pd.DataFrame) -> np.ndarray:
    largest_batch = training["batch_size"].max()
    ranges = training.groupby("hardware")["flops"].agg(["min", "max"])
    low = rows["hardware"].map(ranges["min"]).to_numpy(float)
    high = rows["hardware"].map(ranges["max"]).to_numpy(float)
    flops = rows["flops"].to_numpy(float)
    outside = ~((flops >= low) & (flops <= high))  # NaN (no count, no trained hardware) counts as outside
    trained = set(zip(training["hardware"], training["dtype"]))
    new_dtype = np.array([pair not in trained for pair in zip(rows["hardware"], rows["dtype"])])
    return (rows["batch_size"].to_numpy() > largest_batch) | outside | new_dtype
