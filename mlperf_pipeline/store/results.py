"""Writing and reading benchmark results: validated, idempotent per partition, parameterised SQL.

Table and column names in the SQL below come only from `schema`; values travel as parameters or
in a DataFrame scanned by DuckDB, never as SQL text.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from mlperf_pipeline.store.db import connect, read, write_transaction
from mlperf_pipeline.store.lake import LakeLocation, is_lake
from mlperf_pipeline.store.migrations import migrate
from mlperf_pipeline.store.schema import (
    MEASURED_STATUSES,
    REASON_CODES,
    RESULT_STATUSES,
    SERIES_KEY,
    SIZES,
    TABLE_COLUMNS,
)

APPEND_TABLES = frozenset({"hardware_ceilings", "calibration_params", "predictions"})
PARQUET_EXPORTS = ("benchmark_results", "benchmark_samples", "current_results")

_PANDAS_DTYPES = {
    "INTEGER": "Int64",
    "BIGINT": "Int64",
    "DOUBLE": "float64",
    "BOOLEAN": "boolean",
    "VARCHAR": object,
    "DOUBLE[]": object,
}
_ALLOWED_VALUES = {"status": RESULT_STATUSES, "size": SIZES, "reason_code": REASON_CODES}
# Where a table allows fewer values than `_ALLOWED_VALUES` (the file's CHECK constraints say the
# same; a DuckLake has none, so these checks are what keeps its rows valid).
_TABLE_ALLOWED_VALUES = {
    "skillset_checks": {"status": ("ok", "failed")},
    "detection_runs": {"detector": ("regressions", "anomalies")},
}
_SERIES_ORDER = ", ".join(SERIES_KEY)
_MEASURED = f"status IN ({', '.join(repr(str(status)) for status in MEASURED_STATUSES)}) AND latency_ms_p50 IS NOT NULL"

DbPath = str | os.PathLike | LakeLocation


def write_partition_results(
    db_path: DbPath,
    rows: list[dict],
    samples: list[dict],
    *,
    dagster_run_id: str,
    hardware: str,
    model_type: str,
    timeout_s: float = 60.0,
) -> int:
    """Replace this run's rows for one (hardware, model_type) partition; return the rows written.

    Earlier runs' rows stay: they are the history that regressions are measured against.
    """
    partition = {"dagster_run_id": dagster_run_id, "hardware": hardware, "model_type": model_type}
    results = _staged_frame("benchmark_results", rows, partition)
    raw_samples = _staged_frame("benchmark_samples", samples, partition)

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        for table in ("benchmark_results", "benchmark_samples"):
            conn.execute(
                f"DELETE FROM {table} WHERE dagster_run_id = ? AND hardware = ? AND model_type = ?",
                [dagster_run_id, hardware, model_type],
            )
        _insert(conn, "benchmark_results", results)
        _insert(conn, "benchmark_samples", raw_samples)
        return len(results)

    return write_transaction(db_path, replace, timeout_s)


def write_table_rows(db_path: DbPath, table: str, rows: list[dict], timeout_s: float = 60.0) -> int:
    """Append rows to one of the analysis tables; return the rows written."""
    if table not in APPEND_TABLES:
        raise ValueError(f"unknown table {table!r}: expected one of {sorted(APPEND_TABLES)}")
    frame = _staged_frame(table, rows, fixed={})
    return write_transaction(db_path, lambda conn: _insert(conn, table, frame), timeout_s)


_FINDING_KEY = (*SERIES_KEY, "run_id")


def write_regressions(db_path: DbPath, rows: list[dict], judging: dict | None = None, timeout_s: float = 60.0) -> int:
    """Store regression findings: a finding is one (series, first changed run); a new evaluation of
    it replaces the stored row (its state moves from `pending` to `confirmed` or `refuted`), and
    every other stored finding stays. `judging`: the `detection_runs` row of the judging that
    found them, recorded with them. One transaction."""
    frame = _staged_frame("regressions", rows, fixed={})
    runs = _staged_frame("detection_runs", [judging] if judging else [], fixed={})
    matches = " AND ".join(f"r.{name} IS NOT DISTINCT FROM s.{name}" for name in _FINDING_KEY)

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        if not frame.empty:
            conn.register("staged_findings", frame[list(_FINDING_KEY)])
            conn.execute(f"DELETE FROM regressions r USING staged_findings s WHERE {matches}")
            conn.unregister("staged_findings")
            _insert(conn, "regressions", frame)
        _insert(conn, "detection_runs", runs)
        return len(frame)

    return write_transaction(db_path, replace, timeout_s)


def records_for(table: str, frame: pd.DataFrame) -> list[dict]:
    """A frame of rows for `table` as the writers take them: NaN as NULL, and integer columns back
    to integers (a NULL `seq_len` among others turns a pandas column into floats: 16.0 and NaN)."""
    integer = {name for name, sql_type in TABLE_COLUMNS[table] if sql_type in ("INTEGER", "BIGINT")}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for record in records:
        for name in integer & record.keys():
            value = record[name]
            if isinstance(value, float) and value.is_integer():
                record[name] = int(value)
    return records


def write_anomalies(
    db_path: DbPath, rows: list[dict], judged: pd.DataFrame, judging: dict | None = None, timeout_s: float = 60.0
) -> int:
    """Replace the stored anomalies of the `judged` series (a frame of `SERIES_KEY` columns) with
    `rows`: each judging scores a series' whole history again, so a run that a longer history no
    longer calls anomalous stops being one. Other series' anomalies stay. `judging`: the
    `detection_runs` row, recorded with them. One transaction."""
    frame = _staged_frame("anomalies", rows, fixed={})
    runs = _staged_frame("detection_runs", [judging] if judging else [], fixed={})
    matches = " AND ".join(f"a.{name} IS NOT DISTINCT FROM j.{name}" for name in SERIES_KEY)

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        conn.register("judged_series", judged[list(SERIES_KEY)])
        # The predictor's anomalies (method `predictor`, `store/modelling.py`) are its to replace.
        conn.execute(
            f"DELETE FROM anomalies a USING judged_series j WHERE {matches} AND a.method IS DISTINCT FROM 'predictor'"
        )
        conn.unregister("judged_series")
        _insert(conn, "anomalies", frame)
        _insert(conn, "detection_runs", runs)
        return len(frame)

    return write_transaction(db_path, replace, timeout_s)


def record_environments(db_path: DbPath, environments: dict[str, tuple[str, dict]], timeout_s: float = 60.0) -> int:
    """Remember what each (hardware -> (fingerprint, environment)) fingerprint stands for; one
    already known is left as first recorded. Returns the rows added."""
    rows = [
        {
            "env_fingerprint": fp,
            "hardware": hardware,
            "recorded_at": datetime.now(),
            "environment": json.dumps(env, sort_keys=True),
        }
        for hardware, (fp, env) in environments.items()
    ]
    frame = _staged_frame("environments", rows, fixed={})
    if frame.empty:
        return 0

    def add_new(conn: duckdb.DuckDBPyConnection) -> int:
        ((before,),) = conn.execute("SELECT count(*) FROM environments").fetchall()
        conn.register("staged_environments", frame)
        # Not INSERT OR IGNORE: a DuckLake has no primary key to ignore by.
        conn.execute(
            "INSERT INTO environments BY NAME SELECT * FROM staged_environments s WHERE NOT EXISTS "
            "(SELECT 1 FROM environments e WHERE e.env_fingerprint = s.env_fingerprint AND e.hardware = s.hardware)"
        ).fetchall()
        conn.unregister("staged_environments")
        ((after,),) = conn.execute("SELECT count(*) FROM environments").fetchall()
        return after - before

    return write_transaction(db_path, add_new, timeout_s)


def read_environments(db_path: DbPath) -> dict[str, dict]:
    """fingerprint -> the environment it stands for (the first recorded, on any hardware)."""
    frame = _query(db_path, "SELECT env_fingerprint, environment FROM environments ORDER BY recorded_at", [])
    known: dict[str, dict] = {}
    for fp, text in zip(frame["env_fingerprint"], frame["environment"]):
        known.setdefault(fp, json.loads(text))
    return known


def read_overridden_skillsets(db_path: DbPath) -> dict[str, bool]:
    """skillset hash -> whether it was built from a user override (from the smoke checks)."""
    sql = "SELECT skillset_hash, bool_or(coalesce(overridden, false)) AS overridden FROM skillset_checks WHERE skillset_hash IS NOT NULL GROUP BY 1"
    frame = _query(db_path, sql, [])
    return dict(zip(frame["skillset_hash"], frame["overridden"].astype(bool)))


def table_rows(db_path: DbPath, table: str) -> int:
    """How many rows one of the tables of `schema.TABLE_COLUMNS` holds."""
    if table not in TABLE_COLUMNS:
        raise ValueError(f"unknown table {table!r}: expected one of {sorted(TABLE_COLUMNS)}")
    return int(_query(db_path, f"SELECT count(*) AS n FROM {table}", [])["n"].iloc[0])


def read_latest_judging(db_path: DbPath, detector: str) -> pd.Timestamp | None:
    """When `detector` (`regressions`, `anomalies`) last judged the store; None if it never did."""
    frame = _query(db_path, "SELECT max(detected_at) AS at FROM detection_runs WHERE detector = ?", [detector])
    value = frame["at"].iloc[0]
    return None if pd.isna(value) else value


def read_regressions(db_path: DbPath, latest_judging: bool = False) -> pd.DataFrame:
    """The stored regression findings, by series then baseline end. `latest_judging`: only those the
    most recent judging (in `detection_runs`) found: each judging stamps its rows with one
    `detected_at`, and a finding it no longer makes (one of an older bench version, a change point
    placed one run earlier) keeps its older stamp."""
    latest = "SELECT max(detected_at) FROM detection_runs WHERE detector = 'regressions'"
    where = f"WHERE detected_at = ({latest})" if latest_judging else ""
    return _query(db_path, f"SELECT * FROM regressions {where} ORDER BY {_SERIES_ORDER}, baseline_to, run_id", [])


def read_anomalies(db_path: DbPath) -> pd.DataFrame:
    """The stored anomalies, largest |robust z| first."""
    return _query(db_path, f"SELECT * FROM anomalies ORDER BY abs(robust_z) DESC, {_SERIES_ORDER}, run_id", [])


def read_open_findings(db_path: DbPath) -> dict[tuple, dict[str, str]]:
    """The latest-run findings still open to a new judging, `pending` or `confirmed`: by series key
    (a tuple in `SERIES_KEY` order), run id -> state."""
    sql = f"""
        SELECT {", ".join(_FINDING_KEY)}, state FROM regressions
        WHERE method = 'latest_run' AND state IN ('pending', 'confirmed')
    """
    found: dict[tuple, dict[str, str]] = {}
    for row in _query(db_path, sql, []).itertuples(index=False):
        key = tuple(None if pd.isna(value) else value for value in row[:-2])
        found.setdefault(key, {})[row[-2]] = row[-1]
    return found


def read_confirmations_due(db_path: DbPath) -> pd.DataFrame:
    """The `pending` findings whose flagged run is still its series' latest measured run: what the
    confirmation sensor re-measures. The series key, the flagged `run_id`, its `n_processes` and
    the `dagster_run_id` that stored it."""
    key = ", ".join(f"p.{name}" for name in SERIES_KEY)
    same_series = " AND ".join(f"{{other}}.{name} IS NOT DISTINCT FROM p.{name}" for name in SERIES_KEY)
    sql = f"""
        SELECT {key}, p.run_id, any_value(b.n_processes) AS n_processes, any_value(b.dagster_run_id) AS dagster_run_id
        FROM regressions p
        JOIN benchmark_results b ON b.run_id = p.run_id AND {same_series.format(other="b")}
        WHERE p.state = 'pending' AND NOT EXISTS (
            SELECT 1 FROM benchmark_results later
            WHERE {same_series.format(other="later")} AND later.measured_at > b.measured_at
              AND later.status IN ('ok', 'invalid') AND later.latency_ms_p50 IS NOT NULL
        )
        GROUP BY {key}, p.run_id
        ORDER BY {key}, p.run_id
    """
    return _query(db_path, sql, [])


def write_skillset_checks(db_path: DbPath, rows: list[dict], dagster_run_id: str, timeout_s: float = 60.0) -> int:
    """Record smoke-check outcomes; re-writing the same run's types replaces its earlier rows."""
    frame = _staged_frame("skillset_checks", rows, fixed={"dagster_run_id": dagster_run_id})

    def replace(conn: duckdb.DuckDBPyConnection) -> int:
        conn.execute(
            "DELETE FROM skillset_checks WHERE dagster_run_id = ? AND list_contains(?::VARCHAR[], model_type)",
            [dagster_run_id, [row["model_type"] for row in rows]],
        )
        return _insert(conn, "skillset_checks", frame)

    return write_transaction(db_path, replace, timeout_s)


def read_skillset_coverage(db_path: DbPath) -> pd.DataFrame:
    """The latest smoke-check outcome per model type: the coverage table."""
    return _query(db_path, "SELECT * FROM current_skillset_checks ORDER BY family, model_type", [])


def read_current_results(
    db_path: DbPath,
    hardware: str | None = None,
    model_types: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """The latest result per series (see `SERIES_KEY`), optionally filtered."""
    where, params = _filters(hardware=hardware, model_type=model_types, status=status)
    return _query(db_path, f"SELECT * FROM current_results {where} ORDER BY {_SERIES_ORDER}", params)


def read_stored_inputs(db_path: DbPath, hardware: str, model_types: Iterable[str]) -> dict[str, str]:
    """model_type -> `inputs_version` of its latest stored measurement on `hardware`."""
    current = read_current_results(db_path, hardware=hardware, model_types=list(model_types))
    current = current[current["inputs_version"].notna()].sort_values("measured_at")
    return dict(zip(current["model_type"], current["inputs_version"]))


def read_measured_hardware(db_path: DbPath) -> list[str]:
    """Hardware with rows measured on it: results other than `skipped` (an absent device's rows) or
    ceilings. A home keeps these as partitions after the hardware itself is gone."""
    frame = _query(
        db_path,
        "SELECT DISTINCT hardware FROM benchmark_results WHERE status <> 'skipped' "
        "UNION SELECT DISTINCT hardware FROM hardware_ceilings ORDER BY hardware",
        [],
    )
    return list(frame["hardware"])


def read_results_history(db_path: DbPath, hardware: str | None = None, model_type: str | None = None) -> pd.DataFrame:
    """Every stored result, oldest first."""
    where, params = _filters(hardware=hardware, model_type=model_type)
    sql = f"SELECT * FROM benchmark_results {where} ORDER BY measured_at NULLS FIRST, {_SERIES_ORDER}"
    return _query(db_path, sql, params)


# What the regression detectors read of each stored run: a quarter of the columns (1,000,000 rows
# of all of them take ~2 GiB in pandas).
HISTORY_COLUMNS = (
    *SERIES_KEY,
    "run_id",
    "measured_at",
    "status",
    "latency_ms_p50",
    "process_medians_ms",
    "env_fingerprint",
    "skillset_hash",
    "bench_version",
)


def read_series_sizes(db_path: DbPath) -> pd.DataFrame:
    """Measured runs per (hardware, model_type): how `read_series_history` reads can be batched."""
    sql = f"""
        SELECT hardware, model_type, count(*) AS runs FROM benchmark_results WHERE {_MEASURED}
        GROUP BY hardware, model_type ORDER BY hardware, model_type
    """
    return _query(db_path, sql, [])


def read_series_history(
    db_path: DbPath, hardware: str | None = None, model_types: Iterable[str] | None = None
) -> pd.DataFrame:
    """The measured runs (`ok` or `invalid`, with a latency) of every series, or of one hardware's
    `model_types`, with the columns the detectors use (`HISTORY_COLUMNS`), by series then time."""
    where, params = _filters(hardware=hardware, model_type=None if model_types is None else list(model_types))
    measured = f"{where} AND {_MEASURED}" if where else f"WHERE {_MEASURED}"
    sql = f"""
        SELECT {", ".join(HISTORY_COLUMNS)} FROM benchmark_results {measured}
        ORDER BY {_SERIES_ORDER}, measured_at NULLS LAST, run_id NULLS LAST
    """
    return _query(db_path, sql, params)


def read_series_noise(db_path: DbPath, hardware: str | None = None, model_type: str | None = None) -> pd.DataFrame:
    """Each series' level and run-to-run noise over its whole history (the `series_noise` view).

    The scale a change of the series is judged against; `noise_pct` is null below 3 runs.
    """
    where, params = _filters(hardware=hardware, model_type=model_type)
    return _query(db_path, f"SELECT * FROM series_noise {where} ORDER BY {_SERIES_ORDER}", params)


def read_samples(db_path: DbPath, run_id: str) -> pd.DataFrame:
    """The raw per-iteration latencies of one benchmark run."""
    where, params = _filters(run_id=run_id)
    return _query(db_path, f"SELECT * FROM benchmark_samples {where} ORDER BY {_SERIES_ORDER}, iteration", params)


def export_parquet(db_path: DbPath, out_dir: str | os.PathLike) -> list[Path]:
    """Write results, samples and current results as Parquet, for readers that must not take the lock."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with connect(db_path, read_only=True) as conn:
        for name in PARQUET_EXPORTS:
            target = out / f"{name}.parquet"
            # Written beside the target and renamed, so a reader never sees half a file.
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            conn.execute(f"COPY (SELECT * FROM {name}) TO ? (FORMAT parquet)", [str(partial)])
            partial.replace(target)
            written.append(target)
    return written


def _staged_frame(table: str, rows: Sequence[dict], fixed: dict[str, Any]) -> pd.DataFrame:
    columns = TABLE_COLUMNS[table]
    checked = [_checked_row(table, row, fixed) for row in rows]
    return pd.DataFrame(
        {name: _column(table, name, sql_type, [row.get(name) for row in checked]) for name, sql_type in columns}
    )


def _checked_row(table: str, row: dict, fixed: dict[str, Any]) -> dict:
    _check_types(table, row)
    for name, expected in fixed.items():
        if row.get(name) not in (None, expected):
            raise ValueError(f"{table}.{name}: row has {row[name]!r}, but this write is for {expected!r}")
    row = {**row, **fixed}
    for name, allowed in {**_ALLOWED_VALUES, **_TABLE_ALLOWED_VALUES.get(table, {})}.items():
        # Only text columns hold these sets: `hardware_ceilings.size` is a matrix side, not a model size.
        if dict(TABLE_COLUMNS[table]).get(name) == "VARCHAR" and _violates(name, row.get(name), allowed):
            raise ValueError(f"{table}.{name}: {row.get(name)!r} is not one of {sorted(allowed)}")
    return row


def _check_types(table: str, row: dict) -> None:
    known = dict(TABLE_COLUMNS[table])
    for name, value in row.items():
        if name not in known:
            raise ValueError(f"{table}: unknown column {name!r}")
        if value is not None and not _accepts(known[name], value):
            raise ValueError(f"{table}.{name}: {value!r} is not a valid {known[name]} value")


def _violates(name: str, value: Any, allowed: Iterable[str]) -> bool:
    # Every result needs a status; size and reason_code may be unknown (e.g. a skipped partition).
    if value is None:
        return name == "status"
    return value not in allowed


def _accepts(sql_type: str, value: Any) -> bool:
    if sql_type == "BOOLEAN":
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False
    if sql_type in ("INTEGER", "BIGINT"):
        return isinstance(value, numbers.Integral)
    if sql_type == "DOUBLE":
        return isinstance(value, numbers.Real)
    if sql_type == "TIMESTAMP":
        return isinstance(value, (datetime, str))
    if sql_type == "DOUBLE[]":
        return isinstance(value, (list, tuple)) and all(_accepts("DOUBLE", item) for item in value)
    return isinstance(value, str)


def _column(table: str, name: str, sql_type: str, values: list) -> Any:
    if sql_type != "TIMESTAMP":
        return pd.array(values, dtype=_PANDAS_DTYPES[sql_type])
    try:
        # Stored as naive UTC: aware values are converted, naive ones are taken to be UTC already.
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError) as error:
        raise ValueError(f"{table}.{name}: not an ISO 8601 timestamp ({error})") from error
    return stamps.dt.tz_localize(None).array


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Insert the staged frame's rows; the rows inserted."""
    if frame.empty:
        return 0
    # Explicit casts: a column that is all None reaches DuckDB without a type. The frame's
    # columns are in table order, which is what insert_into expects.
    casts = ", ".join(f"CAST({name} AS {sql_type})" for name, sql_type in TABLE_COLUMNS[table])
    conn.from_df(frame).project(casts).insert_into(table)
    return len(frame)


def _filters(**wanted: str | Iterable[str] | None) -> tuple[str, list]:
    """A WHERE clause over constant column names, with the wanted values as parameters."""
    clauses, params = [], []
    for column, value in wanted.items():
        if value is None:
            continue
        clauses.append(f"list_contains(?::VARCHAR[], {column})")
        params.append([value] if isinstance(value, str) else list(value))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _query(db_path: DbPath, sql: str, params: list) -> pd.DataFrame:
    if not is_lake(db_path) and not Path(db_path).expanduser().exists():
        # Same query on an empty in-memory database: callers get the right columns and dtypes.
        with closing(duckdb.connect(":memory:")) as conn:
            migrate(conn)
            return conn.execute(sql, params).df()
    return read(db_path, lambda conn: conn.execute(sql, params).df())
