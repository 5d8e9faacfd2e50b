"""Reading and writing the modelling tables: measured ceilings, calibration history, predictions,
counts, and the predictor's anomalies."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from mlperf_pipeline.store.db import write_transaction
from mlperf_pipeline.store.results import DbPath, _filters, _insert, _query, _staged_frame


def read_latest_ceilings(db_path: DbPath, hardware: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Each hardware's most recent `hardware_ceilings` measurement: the rows of its latest run."""
    where, params = _filters(hardware=hardware)
    return _query(
        db_path,
        f"SELECT * FROM hardware_ceilings {where} "
        "QUALIFY run_id = arg_max(run_id, measured_at) OVER (PARTITION BY hardware) "
        "ORDER BY hardware, metric, dtype, size",
        params,
    )


def read_calibration_history(db_path: DbPath) -> pd.DataFrame:
    """Every fit's `calibration_params` rows, oldest fit first."""
    return _query(
        db_path, "SELECT * FROM calibration_params ORDER BY fitted_at, hardware, family, dtype, parameter", []
    )


def read_latest_calibration(db_path: DbPath) -> pd.DataFrame:
    """The rows of the most recent fit (empty before the first)."""
    return _query(
        db_path,
        "SELECT * FROM calibration_params WHERE run_id = (SELECT arg_max(run_id, fitted_at) FROM calibration_params) "
        "ORDER BY hardware, family, dtype, parameter",
        [],
    )


def read_latest_predictions(db_path: DbPath) -> pd.DataFrame:
    """The rows of the most recent `predictions` run (empty before the first)."""
    return _query(
        db_path,
        "SELECT * FROM predictions WHERE run_id = (SELECT arg_max(run_id, predicted_at) FROM predictions) "
        "ORDER BY hardware, model_type, size, batch_size, seq_len, dtype",
        [],
    )


def read_workload_counts(db_path: DbPath, counts_versions: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored counts of the prediction grid, of the given versions (default: all)."""
    where, params = _filters(counts_version=counts_versions)
    # One row per key: two nodes counting the same key at once may both have stored it (a
    # DuckLake has no primary key to refuse the second); their counts are the same.
    return _query(
        db_path,
        f"SELECT * FROM workload_counts {where} QUALIFY row_number() OVER (PARTITION BY "
        "model_type, size, batch_size, seq_len, counts_version ORDER BY counted_at DESC NULLS LAST) = 1 "
        "ORDER BY model_type, size, batch_size",
        params,
    )


def write_workload_counts(db_path: DbPath, rows: list[dict], timeout_s: float = 60.0) -> int:
    """Store counts, replacing any of the same key (a recount of one version is the same count)."""
    if not rows:
        return 0
    frame = _staged_frame("workload_counts", rows, fixed={})
    key = ["model_type", "size", "batch_size", "seq_len", "counts_version"]

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        conn.register("incoming", frame[key])
        conn.execute(
            "DELETE FROM workload_counts USING incoming WHERE "
            + " AND ".join(f"workload_counts.{name} = incoming.{name}" for name in key)
        )
        conn.unregister("incoming")
        return _insert(conn, "workload_counts", frame)

    return write_transaction(db_path, replace, timeout_s)


def write_predictor_anomalies(db_path: DbPath, rows: list[dict], timeout_s: float = 60.0) -> int:
    """Replace every stored anomaly of method `predictor` with `rows`: each predictor run judges
    the whole current set again. The series detector's anomalies (`write_anomalies`) stay."""
    frame = _staged_frame("anomalies", rows, fixed={})

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        conn.execute("DELETE FROM anomalies WHERE method = 'predictor'")
        return _insert(conn, "anomalies", frame)

    return write_transaction(db_path, replace, timeout_s)
