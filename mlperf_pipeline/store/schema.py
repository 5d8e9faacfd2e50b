"""The results database's tables, the view of current results, and numbered migrations.

Timestamps are stored as naive `TIMESTAMP` in UTC. The column lists below describe the schema
after the last migration; a test checks they agree with what the migrations actually build.
"""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb

from mlperf_pipeline import reasons, sizes
from mlperf_pipeline.store.transaction import transaction

ColumnList = list[tuple[str, str]]

# What the store checks rows against; each set has one definition, where it is produced. Reason
# codes are kept in Python rather than as a CHECK constraint: DuckDB cannot alter a CHECK in place,
# so a new code would otherwise need a table rebuild.
RESULT_STATUSES = reasons.STATUSES
REASON_CODES = reasons.REASON_CODES
SIZES = sizes.SIZES

SERIES_KEY = ("hardware", "model_type", "size", "batch_size", "seq_len", "dtype", "scenario", "workers")
# Rows that were measured and so count as one run of their series: an `invalid` row has a latency
# too, it only missed the stop rule's target; `failed` and `skipped` rows have none.
MEASURED_STATUSES = (reasons.Status.OK, reasons.Status.INVALID)


def _typed(sql_type: str, *names: str) -> ColumnList:
    return [(name, sql_type) for name in names]


RESULT_COLUMNS: ColumnList = [
    ("run_id", "VARCHAR"),
    ("measured_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "device_name", "model_type", "family", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    *_typed("VARCHAR", "dtype", "scenario"),
    *_typed("INTEGER", "workers", "threads"),
    *_typed("VARCHAR", "status", "reason_code", "reason"),
    *_typed(
        "DOUBLE",
        "latency_ms_p50",
        "latency_ms_p90",
        "latency_ms_p99",
        "latency_ms_mean",
        "latency_ms_std",
        "latency_ms_iqr",
        "ci95_low_ms",
        "ci95_high_ms",
    ),
    *_typed("INTEGER", "n_samples", "warmup_n"),
    *_typed(
        "DOUBLE",
        "throughput_per_s",
        "peak_memory_mb",
        "energy_j",
        "import_s",
        "build_s",
        "to_device_s",
        "first_call_ms",
        "cpu_util_pct",
        "gpu_util_pct",
    ),
    ("params", "BIGINT"),
    # FLOPs and bytes of a large model at a large batch can pass 2**63.
    *_typed("DOUBLE", "flops", "bytes"),
    *_typed("VARCHAR", "env_fingerprint", "skillset_hash", "bench_version", "git_commit", "dagster_run_id"),
    # Added by migration 2: the conditions of the measurement.
    ("omp_wait_policy", "VARCHAR"),
    *_typed("DOUBLE", "load_before_pct", "foreign_load_pct", "speedup"),
    ("foreign_load", "BOOLEAN"),
    # What the measurement depended on (skillset, environment, bench version, grid): a run that was
    # killed after writing a partition is not measured again for the same inputs.
    ("inputs_version", "VARCHAR"),
    # Measured in several processes (migration 4): the interval is over their medians.
    ("n_processes", "INTEGER"),
    ("process_medians_ms", "DOUBLE[]"),
    ("between_process_cv_pct", "DOUBLE"),
    # The host-speed probe: a fixed kernel timed beside the model, slowest reading of the row's processes.
    ("host_probe_ms", "DOUBLE"),
    ("host_slowdown_pct", "DOUBLE"),
    ("remeasured", "INTEGER"),
]

SAMPLE_COLUMNS: ColumnList = [
    *_typed("VARCHAR", "run_id", "dagster_run_id", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    *_typed("VARCHAR", "dtype", "scenario"),
    *_typed("INTEGER", "workers", "iteration"),
    ("latency_ms", "DOUBLE"),
    ("process", "INTEGER"),  # which of the configuration's processes took the sample (migration 4)
]

HARDWARE_CEILING_COLUMNS: ColumnList = [
    ("run_id", "VARCHAR"),
    ("measured_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "device_name", "dtype", "metric"),
    ("value", "DOUBLE"),
    *_typed("VARCHAR", "unit", "env_fingerprint"),
]

CALIBRATION_COLUMNS: ColumnList = [
    ("fitted_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "family", "dtype", "parameter"),
    *_typed("DOUBLE", "value", "ci_low", "ci_high"),
    ("n_points", "INTEGER"),
    ("run_id", "VARCHAR"),
]

PREDICTION_COLUMNS: ColumnList = [
    ("predicted_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    ("dtype", "VARCHAR"),
    *_typed("DOUBLE", "predicted_ms", "roofline_ms"),
    *_typed("VARCHAR", "model_version", "run_id"),
]

ANOMALY_COLUMNS: ColumnList = [
    ("detected_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    *_typed("VARCHAR", "dtype", "scenario", "metric"),
    *_typed("DOUBLE", "value", "expected", "robust_z"),
    ("run_id", "VARCHAR"),
    # migration 8: the series key's workers, what the expectation came from (`series`: the other
    # runs of the series' segment; later `predictor`) and the sigma the z-score is in.
    ("workers", "INTEGER"),
    ("method", "VARCHAR"),
    ("noise_sigma_pct", "DOUBLE"),
]

REGRESSION_COLUMNS: ColumnList = [
    *_typed("VARCHAR", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    *_typed("VARCHAR", "dtype", "scenario", "metric"),
    *_typed("DOUBLE", "baseline_value", "current_value", "change_pct", "effect", "p_value"),
    ("method", "VARCHAR"),
    *_typed("TIMESTAMP", "baseline_from", "baseline_to"),
    ("severity", "VARCHAR"),
    ("confirmed", "BOOLEAN"),
    ("detected_at", "TIMESTAMP"),
    ("run_id", "VARCHAR"),
    # migration 7: the series key's workers, the noise the finding was judged against, a state
    # (pending / confirmed / refuted: `confirmed` alone cannot tell pending from refuted) and
    # what changed between baseline and the changed run (`analysis/regressions.suspect`).
    ("workers", "INTEGER"),
    ("noise_sigma_pct", "DOUBLE"),
    *_typed("VARCHAR", "state", "suspect"),
]

SKILLSET_CHECK_COLUMNS: ColumnList = [
    ("checked_at", "TIMESTAMP"),
    *_typed("VARCHAR", "model_type", "family", "model_class", "status", "reason_code", "reason"),
    *_typed("BIGINT", "params_tiny", "params_full"),
    ("skillset_hash", "VARCHAR"),
    ("overridden", "BOOLEAN"),
    ("seconds", "DOUBLE"),
    ("dagster_run_id", "VARCHAR"),
]

# Migration 8: one row per judging of the whole store by a detector (`regressions`, `anomalies`):
# when it ran (the `detected_at` its findings carry), how much it judged and found, how long it took.
DETECTION_RUN_COLUMNS: ColumnList = [
    ("detected_at", "TIMESTAMP"),
    ("detector", "VARCHAR"),
    *_typed("INTEGER", "series", "findings"),
    ("seconds", "DOUBLE"),
]

# Migration 8: what each environment fingerprint stands for (library versions, devices, CPU), so
# that a regression's suspect can say `torch 2.13.0 -> 2.14.0` rather than two hashes.
ENVIRONMENT_COLUMNS: ColumnList = [
    *_typed("VARCHAR", "env_fingerprint", "hardware"),
    ("recorded_at", "TIMESTAMP"),
    ("environment", "VARCHAR"),  # the JSON of `hardware.fingerprint.environment`
]

# The `series_noise` view (migrations 5, 6): one row per series, its level and run-to-run noise
# under the series' latest `bench_version`.
SERIES_NOISE_COLUMNS: ColumnList = [
    *_typed("VARCHAR", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    *_typed("VARCHAR", "dtype", "scenario"),
    ("workers", "INTEGER"),
    ("bench_version", "VARCHAR"),
    ("n_runs", "BIGINT"),
    *_typed("DOUBLE", "level_ms", "noise_pct"),
    *_typed("TIMESTAMP", "first_measured_at", "last_measured_at"),
]

TABLE_COLUMNS: dict[str, ColumnList] = {
    "benchmark_results": RESULT_COLUMNS,
    "benchmark_samples": SAMPLE_COLUMNS,
    "hardware_ceilings": HARDWARE_CEILING_COLUMNS,
    "calibration_params": CALIBRATION_COLUMNS,
    "predictions": PREDICTION_COLUMNS,
    "anomalies": ANOMALY_COLUMNS,
    "regressions": REGRESSION_COLUMNS,
    "skillset_checks": SKILLSET_CHECK_COLUMNS,
    "detection_runs": DETECTION_RUN_COLUMNS,
    "environments": ENVIRONMENT_COLUMNS,
}

# Migration 1 is written out rather than generated from the lists above so that it never changes
# once a database has applied it; later schema changes are new migrations.
_MIGRATION_1 = [
    """
    CREATE TABLE benchmark_results (
        run_id VARCHAR,
        measured_at TIMESTAMP,
        hardware VARCHAR NOT NULL,
        device_name VARCHAR,
        model_type VARCHAR NOT NULL,
        family VARCHAR,
        size VARCHAR CHECK (size IN ('tiny', 'full')),
        batch_size INTEGER,
        seq_len INTEGER,
        dtype VARCHAR,
        scenario VARCHAR,
        workers INTEGER,
        threads INTEGER,
        status VARCHAR NOT NULL CHECK (status IN ('ok', 'invalid', 'failed', 'skipped')),
        reason_code VARCHAR,
        reason VARCHAR,
        latency_ms_p50 DOUBLE,
        latency_ms_p90 DOUBLE,
        latency_ms_p99 DOUBLE,
        latency_ms_mean DOUBLE,
        latency_ms_std DOUBLE,
        latency_ms_iqr DOUBLE,
        ci95_low_ms DOUBLE,
        ci95_high_ms DOUBLE,
        n_samples INTEGER,
        warmup_n INTEGER,
        throughput_per_s DOUBLE,
        peak_memory_mb DOUBLE,
        energy_j DOUBLE,
        import_s DOUBLE,
        build_s DOUBLE,
        to_device_s DOUBLE,
        first_call_ms DOUBLE,
        cpu_util_pct DOUBLE,
        gpu_util_pct DOUBLE,
        params BIGINT,
        flops DOUBLE,
        bytes DOUBLE,
        env_fingerprint VARCHAR,
        skillset_hash VARCHAR,
        bench_version VARCHAR,
        git_commit VARCHAR,
        dagster_run_id VARCHAR
    )
    """,
    """
    CREATE TABLE benchmark_samples (
        run_id VARCHAR,
        dagster_run_id VARCHAR,
        hardware VARCHAR NOT NULL,
        model_type VARCHAR NOT NULL,
        size VARCHAR CHECK (size IN ('tiny', 'full')),
        batch_size INTEGER,
        seq_len INTEGER,
        dtype VARCHAR,
        scenario VARCHAR,
        workers INTEGER,
        iteration INTEGER,
        latency_ms DOUBLE
    )
    """,
    """
    CREATE TABLE hardware_ceilings (
        run_id VARCHAR, measured_at TIMESTAMP, hardware VARCHAR, device_name VARCHAR,
        dtype VARCHAR, metric VARCHAR, value DOUBLE, unit VARCHAR, env_fingerprint VARCHAR
    )
    """,
    """
    CREATE TABLE calibration_params (
        fitted_at TIMESTAMP, hardware VARCHAR, family VARCHAR, dtype VARCHAR, parameter VARCHAR,
        value DOUBLE, ci_low DOUBLE, ci_high DOUBLE, n_points INTEGER, run_id VARCHAR
    )
    """,
    """
    CREATE TABLE predictions (
        predicted_at TIMESTAMP, hardware VARCHAR, model_type VARCHAR, size VARCHAR,
        batch_size INTEGER, seq_len INTEGER, dtype VARCHAR, predicted_ms DOUBLE,
        roofline_ms DOUBLE, model_version VARCHAR, run_id VARCHAR
    )
    """,
    """
    CREATE TABLE anomalies (
        detected_at TIMESTAMP, hardware VARCHAR, model_type VARCHAR, size VARCHAR,
        batch_size INTEGER, seq_len INTEGER, dtype VARCHAR, scenario VARCHAR, metric VARCHAR,
        value DOUBLE, expected DOUBLE, robust_z DOUBLE, run_id VARCHAR
    )
    """,
    """
    CREATE TABLE regressions (
        hardware VARCHAR, model_type VARCHAR, size VARCHAR, batch_size INTEGER, seq_len INTEGER,
        dtype VARCHAR, scenario VARCHAR, metric VARCHAR, baseline_value DOUBLE,
        current_value DOUBLE, change_pct DOUBLE, effect DOUBLE, p_value DOUBLE, method VARCHAR,
        baseline_from TIMESTAMP, baseline_to TIMESTAMP, severity VARCHAR, confirmed BOOLEAN,
        detected_at TIMESTAMP, run_id VARCHAR
    )
    """,
    # The later tie-breakers only matter for rows measured at the same instant; they make the
    # chosen row independent of storage order.
    """
    CREATE VIEW current_results AS
    SELECT * FROM benchmark_results
    QUALIFY row_number() OVER (
        PARTITION BY hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers
        ORDER BY measured_at DESC NULLS LAST, dagster_run_id DESC NULLS LAST, run_id DESC NULLS LAST
    ) = 1
    """,
]

_CURRENT_RESULTS_VIEW = _MIGRATION_1[-1].replace("CREATE VIEW", "CREATE OR REPLACE VIEW")

_MIGRATION_2 = [
    "ALTER TABLE benchmark_results ADD COLUMN omp_wait_policy VARCHAR",
    "ALTER TABLE benchmark_results ADD COLUMN load_before_pct DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN foreign_load_pct DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN speedup DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN foreign_load BOOLEAN",
    "ALTER TABLE benchmark_results ADD COLUMN inputs_version VARCHAR",
    # Re-created so that `*` takes in the new columns.
    _CURRENT_RESULTS_VIEW,
]

_MIGRATION_3 = [
    """
    CREATE TABLE skillset_checks (
        checked_at TIMESTAMP,
        model_type VARCHAR NOT NULL,
        family VARCHAR,
        model_class VARCHAR,
        status VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
        reason_code VARCHAR,
        reason VARCHAR,
        params_tiny BIGINT,
        params_full BIGINT,
        skillset_hash VARCHAR,
        overridden BOOLEAN,
        seconds DOUBLE,
        dagster_run_id VARCHAR
    )
    """,
    """
    CREATE VIEW current_skillset_checks AS
    SELECT * FROM skillset_checks
    QUALIFY row_number() OVER (PARTITION BY model_type ORDER BY checked_at DESC, dagster_run_id DESC NULLS LAST) = 1
    """,
]

_MIGRATION_4 = [
    "ALTER TABLE benchmark_results ADD COLUMN n_processes INTEGER",
    "ALTER TABLE benchmark_results ADD COLUMN process_medians_ms DOUBLE[]",
    "ALTER TABLE benchmark_results ADD COLUMN between_process_cv_pct DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN host_probe_ms DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN host_slowdown_pct DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN remeasured INTEGER",
    "ALTER TABLE benchmark_samples ADD COLUMN process INTEGER",
    _CURRENT_RESULTS_VIEW,
]

# The noise scale the regression detectors judge a change against: how far one series' per-run
# medians scatter from run to run (host episodes, process layout), which the spread inside one run
# does not show. 1.4826 x MAD estimates a normal sigma; the median and MAD are not pulled by one bad
# run the way a mean and standard deviation are. Fewer than 3 runs give no estimate (NULL).
# Written out (not generated from SERIES_KEY) so that it never changes once applied.
# `analysis.noise.run_to_run_noise` is the same computation in Python; a test keeps them in step.
_SERIES_NOISE_VIEW = """
    CREATE OR REPLACE VIEW series_noise AS
    SELECT
        hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers,
        count(*) AS n_runs,
        median(latency_ms_p50) AS level_ms,
        CASE WHEN count(*) >= 3 THEN 1.4826 * mad(latency_ms_p50) / median(latency_ms_p50) * 100 END AS noise_pct,
        min(measured_at) AS first_measured_at,
        max(measured_at) AS last_measured_at
    FROM benchmark_results
    WHERE status IN ('ok', 'invalid') AND latency_ms_p50 IS NOT NULL
    GROUP BY hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers
    """

_MIGRATION_5 = [_SERIES_NOISE_VIEW]

# Migration 5's view pooled every bench version of a series, but a method change moves the level
# and the noise (bench 3's multi-process medians scatter less than bench 2's single processes), and
# a new bench version starts a new baseline (DESIGN section 4). So the noise is taken over the runs
# of the series' latest bench version only: the version of its most recently measured run.
_SERIES_NOISE_BY_VERSION_VIEW = """
    CREATE OR REPLACE VIEW series_noise AS
    WITH runs AS (
        SELECT
            hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers,
            bench_version, latency_ms_p50, measured_at,
            arg_max(bench_version, measured_at) OVER (
                PARTITION BY hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers
            ) AS latest_version
        FROM benchmark_results
        WHERE status IN ('ok', 'invalid') AND latency_ms_p50 IS NOT NULL
    )
    SELECT
        hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers, bench_version,
        count(*) AS n_runs,
        median(latency_ms_p50) AS level_ms,
        CASE WHEN count(*) >= 3 THEN 1.4826 * mad(latency_ms_p50) / median(latency_ms_p50) * 100 END AS noise_pct,
        min(measured_at) AS first_measured_at,
        max(measured_at) AS last_measured_at
    FROM runs
    WHERE bench_version IS NOT DISTINCT FROM latest_version
    GROUP BY hardware, model_type, size, batch_size, seq_len, dtype, scenario, workers, bench_version
    """

_MIGRATION_6 = [_SERIES_NOISE_BY_VERSION_VIEW]

_MIGRATION_7 = [
    "ALTER TABLE regressions ADD COLUMN workers INTEGER",
    "ALTER TABLE regressions ADD COLUMN noise_sigma_pct DOUBLE",
    "ALTER TABLE regressions ADD COLUMN state VARCHAR",
    "ALTER TABLE regressions ADD COLUMN suspect VARCHAR",
]

_MIGRATION_8 = [
    """
    CREATE TABLE detection_runs (
        detected_at TIMESTAMP NOT NULL,
        detector VARCHAR NOT NULL CHECK (detector IN ('regressions', 'anomalies')),
        series INTEGER,
        findings INTEGER,
        seconds DOUBLE
    )
    """,
    """
    CREATE TABLE environments (
        env_fingerprint VARCHAR NOT NULL,
        hardware VARCHAR NOT NULL,
        recorded_at TIMESTAMP,
        environment VARCHAR,
        PRIMARY KEY (env_fingerprint, hardware)
    )
    """,
    "ALTER TABLE anomalies ADD COLUMN workers INTEGER",
    "ALTER TABLE anomalies ADD COLUMN method VARCHAR",
    "ALTER TABLE anomalies ADD COLUMN noise_sigma_pct DOUBLE",
]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "results, samples, analysis tables and the current_results view", _MIGRATION_1),
    (2, "measurement conditions (OpenMP wait policy, foreign load), concurrent speedup, inputs version", _MIGRATION_2),
    (3, "skillset smoke checks (the coverage table) and their current view", _MIGRATION_3),
    (4, "multi-process measurement: process count, per-process medians and spread, host probe", _MIGRATION_4),
    (5, "series_noise view: each series' level and robust run-to-run noise over its history", _MIGRATION_5),
    (6, "series_noise over each series' latest bench version only", _MIGRATION_6),
    (7, "regressions: workers, the noise sigma, a pending / confirmed / refuted state, the suspect", _MIGRATION_7),
    (
        8,
        "detection_runs, environments; anomalies: workers, the method of the expectation, the noise sigma",
        _MIGRATION_8,
    ),
]


def applied_versions(conn: duckdb.DuckDBPyConnection) -> set[int]:
    rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    return {version for (version,) in rows}


def pending_migrations(conn: duckdb.DuckDBPyConnection) -> list[tuple[int, str, list[str]]]:
    """The migrations this database lacks (it must have the `schema_migrations` table)."""
    applied = applied_versions(conn)
    return [migration for migration in MIGRATIONS if migration[0] not in applied]


def migrate(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this database lacks, each in its own transaction; return their versions."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
    )
    missing = pending_migrations(conn)
    for version, description, statements in missing:
        with transaction(conn):
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, description, datetime.now(timezone.utc).replace(tzinfo=None)],
            )
    return [version for version, _, _ in missing]
