"""The results database's tables: their columns after the last migration, and the keys and
closed sets rows are checked against. The migrations that build them are in `migrations.py`.

Timestamps are stored as naive `TIMESTAMP` in UTC. A test checks that these column lists agree
with what the migrations actually build.
"""

from __future__ import annotations

from mlperf_pipeline import reasons, sizes

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
    # Migration 9: the operators a forward dispatches and why a count is missing
    # (`skillsets/runtime/counting.py`); where the row sits under its hardware's roofline.
    ("ops", "BIGINT"),
    ("count_reason", "VARCHAR"),
    ("roofline_fraction", "DOUBLE"),
    ("bound", "VARCHAR"),
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
    # Migration 9: how it was measured (`bench/ceilings.py`): threads, the matrix side or array
    # bytes, the processes, and the interval over their medians.
    ("threads", "INTEGER"),
    ("size", "BIGINT"),
    ("n_processes", "INTEGER"),
    *_typed("DOUBLE", "ci_low", "ci_high"),
]

CALIBRATION_COLUMNS: ColumnList = [
    ("fitted_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "family", "dtype", "parameter"),
    *_typed("DOUBLE", "value", "ci_low", "ci_high"),
    ("n_points", "INTEGER"),
    ("run_id", "VARCHAR"),
    # Migration 10: how many model types the fit saw, and whether its group's predicted time drifted
    # (`analysis/drift.py`: `previous_fit` or `change_point`, with the test's p-value; every
    # parameter row of a drifted group is marked).
    ("n_types", "INTEGER"),
    ("drift", "BOOLEAN"),
    ("drift_method", "VARCHAR"),
    ("drift_p_value", "DOUBLE"),
]

PREDICTION_COLUMNS: ColumnList = [
    ("predicted_at", "TIMESTAMP"),
    *_typed("VARCHAR", "hardware", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    ("dtype", "VARCHAR"),
    *_typed("DOUBLE", "predicted_ms", "roofline_ms"),
    *_typed("VARCHAR", "model_version", "run_id"),
    # Migration 10: the 90% prediction interval, the (uncalibrated) roofline's bound, the measured
    # multi-level median where the configuration was measured, whether its type was held out of
    # training or the configuration lies outside the measured range, and the counts it rests on.
    ("family", "VARCHAR"),
    *_typed("DOUBLE", "lower_ms", "upper_ms"),
    ("bound", "VARCHAR"),
    ("measured_ms", "DOUBLE"),
    *_typed("BOOLEAN", "holdout", "extrapolated"),
    *_typed("DOUBLE", "flops", "bytes"),
    ("count_reason", "VARCHAR"),
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

# Migration 11: the counts of the prediction grid (`analysis/prediction_grid.py`), one row per
# (type, size, batch, sequence length) and version of what the count depends on (transformers,
# the counting convention, a tiny size's skillset), so a type is counted once, not per prediction.
WORKLOAD_COUNT_COLUMNS: ColumnList = [
    *_typed("VARCHAR", "model_type", "size"),
    *_typed("INTEGER", "batch_size", "seq_len"),
    ("counts_version", "VARCHAR"),
    *_typed("DOUBLE", "flops", "bytes"),
    *_typed("BIGINT", "ops", "params"),
    ("count_reason", "VARCHAR"),
    ("counted_at", "TIMESTAMP"),
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
    "workload_counts": WORKLOAD_COUNT_COLUMNS,
}
