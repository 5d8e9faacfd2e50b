"""`roofline_calibration` materialised for real on rows stored in DuckDB, fitted twice: unchanged
data shows no drift; a family measured 20% slower drifts, and only that family."""

from datetime import datetime, timedelta

import dagster as dg
import pytest

from mlperf_pipeline.orchestration.assets.modelling import roofline_calibration
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.modelling import read_calibration_history
from mlperf_pipeline.store.results import write_partition_results, write_table_rows
from mlperf_pipeline_tests.analysis.test_calibration import _rows

CEILINGS = [
    {"run_id": "c1", "measured_at": datetime(2026, 12, 1), "hardware": "cpu", "dtype": "float32", "metric": metric,
     "value": value, "unit": unit, "size": 1024, "threads": 2, "n_processes": 5}
    for metric, value, unit in (("matmul_flops", 140e9, "FLOP/s"), ("triad_bandwidth", 35e9, "B/s"))
]  # fmt: skip


def _store(db, when, **slow):
    """Each synthetic type's rows as one partition write of one run, as `benchmark_results` does."""
    work = _rows(seed=int(when.timestamp()) % 1000, **slow)
    for model_type, rows in work.groupby("model_type"):
        records = [
            {"run_id": f"{model_type}-{when:%H%M}-{index}", "measured_at": when, "hardware": "cpu",
             "model_type": model_type, "family": row.family, "size": "full" if row.flops > 1e9 else "tiny",
             "batch_size": 1 if index % 2 == 0 else 8, "seq_len": 128, "dtype": "float32", "scenario": "latency",
             "workers": 1, "status": "ok", "latency_ms_p50": row.latency_ms_p50, "flops": row.flops,
             "bytes": row.bytes, "ops": int(row.ops)}
            for index, row in enumerate(rows.itertuples(index=False))
        ]  # fmt: skip
        write_partition_results(
            db, records, [], dagster_run_id=f"run-{when:%H%M}", hardware="cpu", model_type=model_type
        )


def _fit(instance, resources):
    result = dg.materialize([roofline_calibration], instance=instance, resources=resources)
    assert result.success
    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    (materialization,) = result.asset_materializations_for_node("roofline_calibration")
    return materialization, checks["no_calibration_drift"], checks["held_out_error_within_bound"]


@pytest.mark.slow
def test_unchanged_data_does_not_drift_and_a_slower_family_does(tmp_path):
    db, resources = tmp_path / "results.duckdb", resources_under(tmp_path)
    with dg.instance_for_test() as instance:
        empty, _, _ = _fit(instance, resources)  # nothing measured yet: nothing fitted, said why
        assert empty.metadata["rows_fitted"].value == 0 and "make ceilings" in empty.metadata["reason"].value
        write_table_rows(db, "hardware_ceilings", CEILINGS)
        first_at = datetime(2026, 12, 1, 10)
        _store(db, first_at)
        first, _, error = _fit(instance, resources)
        assert first.metadata["rows_fitted"].value == 48 and error.passed
        held_out = first.metadata["held_out_by_architecture"].value
        assert held_out["calibrated_roofline"]["mape_pct"] < held_out["roofline"]["mape_pct"]
        _store(db, first_at + timedelta(hours=1))  # a fresh re-measurement of unchanged code
        _, no_drift, _ = _fit(instance, resources)
        assert no_drift.passed
        _store(db, first_at + timedelta(hours=2), slow_family="decoder", slowdown=1.2)
        _, drift, _ = _fit(instance, resources)
        assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    history = read_calibration_history(db)
    assert history["run_id"].nunique() == 3
    latest = history[history["fitted_at"] == history["fitted_at"].max()]
    assert set(latest[latest["drift"]]["family"]) == {"decoder"}
    assert set(latest["family"]) == {"*", "encoder", "decoder"} and (latest["n_types"] >= 6).all()
