"""Numbered migrations of the results database, applied in order, each in its own transaction.

Each migration is written out rather than generated from the column lists of `schema.py`, so that
it never changes once a database has applied it; a test checks that applying them all builds
exactly those column lists.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import duckdb

from mlperf_pipeline.store.transaction import transaction

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

_MIGRATION_9 = [
    "ALTER TABLE benchmark_results ADD COLUMN ops BIGINT",
    "ALTER TABLE benchmark_results ADD COLUMN count_reason VARCHAR",
    "ALTER TABLE benchmark_results ADD COLUMN roofline_fraction DOUBLE",
    "ALTER TABLE benchmark_results ADD COLUMN bound VARCHAR",
    "ALTER TABLE hardware_ceilings ADD COLUMN threads INTEGER",
    "ALTER TABLE hardware_ceilings ADD COLUMN size BIGINT",
    "ALTER TABLE hardware_ceilings ADD COLUMN n_processes INTEGER",
    "ALTER TABLE hardware_ceilings ADD COLUMN ci_low DOUBLE",
    "ALTER TABLE hardware_ceilings ADD COLUMN ci_high DOUBLE",
    _CURRENT_RESULTS_VIEW,
]

_MIGRATION_10 = [
    "ALTER TABLE calibration_params ADD COLUMN n_types INTEGER",
    "ALTER TABLE calibration_params ADD COLUMN drift BOOLEAN",
    "ALTER TABLE calibration_params ADD COLUMN drift_method VARCHAR",
    "ALTER TABLE calibration_params ADD COLUMN drift_p_value DOUBLE",
    "ALTER TABLE predictions ADD COLUMN family VARCHAR",
    "ALTER TABLE predictions ADD COLUMN lower_ms DOUBLE",
    "ALTER TABLE predictions ADD COLUMN upper_ms DOUBLE",
    "ALTER TABLE predictions ADD COLUMN bound VARCHAR",
    "ALTER TABLE predictions ADD COLUMN measured_ms DOUBLE",
    "ALTER TABLE predictions ADD COLUMN holdout BOOLEAN",
    "ALTER TABLE predictions ADD COLUMN extrapolated BOOLEAN",
    "ALTER TABLE predictions ADD COLUMN flops DOUBLE",
    "ALTER TABLE predictions ADD COLUMN bytes DOUBLE",
    "ALTER TABLE predictions ADD COLUMN count_reason VARCHAR",
]

_MIGRATION_11 = [
    """
    CREATE TABLE workload_counts (
        model_type VARCHAR NOT NULL,
        size VARCHAR NOT NULL,
        batch_size INTEGER NOT NULL,
        seq_len INTEGER NOT NULL,
        counts_version VARCHAR NOT NULL,
        flops DOUBLE,
        bytes DOUBLE,
        ops BIGINT,
        params BIGINT,
        count_reason VARCHAR,
        counted_at TIMESTAMP,
        PRIMARY KEY (model_type, size, batch_size, seq_len, counts_version)
    )
    """,
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
    (
        9,
        "results: operator count, count reason, roofline fraction and bound; ceilings: threads, size, interval",
        _MIGRATION_9,
    ),
    (
        10,
        "calibration_params: types, drift; predictions: family, interval, bound, measured, holdout, extrapolated, counts",
        _MIGRATION_10,
    ),
    (11, "workload_counts: FLOPs, bytes and operators of the prediction grid, counted once per version", _MIGRATION_11),
]


def applied_versions(conn: duckdb.DuckDBPyConnection) -> set[int]:
    rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    return {version for (version,) in rows}


def pending_migrations(conn: duckdb.DuckDBPyConnection) -> list[tuple[int, str, list[str]]]:
    """The migrations this database lacks (it must have the `schema_migrations` table)."""
    applied = applied_versions(conn)
    return [migration for migration in MIGRATIONS if migration[0] not in applied]


def migrate(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this database lacks, each in its own transaction; return their versions.

    On a DuckLake, which has no CHECK or key constraints, they are applied without them (see
    `lake_statement`); the writers check the same rules before they write."""
    adapt = lake_statement if _is_ducklake(conn) else str
    conn.execute(
        adapt(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
        )
    )
    missing = pending_migrations(conn)
    for version, description, statements in missing:
        with transaction(conn):
            for statement in statements:
                conn.execute(adapt(statement))
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, description, datetime.now(timezone.utc).replace(tzinfo=None)],
            )
    return [version for version, _, _ in missing]


def _is_ducklake(conn: duckdb.DuckDBPyConnection) -> bool:
    rows = conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return bool(rows) and rows[0][0] == "ducklake"


def lake_statement(sql: str) -> str:
    """`sql` without its CHECK (...) clauses and PRIMARY KEY / UNIQUE constraints, which a DuckLake
    refuses. The column lists stay exactly as they are."""
    out, i = [], 0
    while i < len(sql):
        match = _CONSTRAINT.match(sql, i)
        if not match:
            out.append(sql[i])
            i += 1
            continue
        end = match.end()
        if sql[end - 1] == "(":
            end = _closing_paren(sql, end - 1) + 1
        # A table constraint on its own (`, PRIMARY KEY (a, b)`) takes its comma with it.
        prefix = "".join(out).rstrip()
        if match.group("keyword") != "CHECK" and prefix.endswith(",") and sql[end - 1] == ")":
            out = [prefix[:-1]]
        i = end
    return "".join(out)


def _closing_paren(sql: str, opening: int) -> int:
    depth, quoted = 0, False
    for index in range(opening, len(sql)):
        char = sql[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced parentheses in migration statement: {sql!r}")


_CONSTRAINT = re.compile(r"\s+(?P<keyword>CHECK|PRIMARY\s+KEY|UNIQUE)\b(\s*\()?")
