"""The `regressions` asset over a real store: findings merged into DuckDB, the check on standing slowdowns."""

from datetime import datetime, timedelta

import dagster as dg
import numpy as np

from mlperf_pipeline.orchestration.assets.detection import regressions
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.results import write_partition_results
from mlperf_pipeline_tests.store.factories import result_row


def _store(db_path, model_type, levels, seed):
    rng = np.random.default_rng(seed)
    for index, level in enumerate(levels):
        medians = (level * np.exp(0.01 * rng.standard_normal(3))).tolist()
        row = result_row(
            model_type,
            run_id=f"{model_type}-{index}",
            measured_at=datetime(2025, 3, 1) + timedelta(hours=index),
            latency_ms_p50=float(np.mean(medians)),
            process_medians_ms=medians,
            bench_version="5",
        )
        write_partition_results(db_path, [row], [], dagster_run_id=row["run_id"], hardware="cpu", model_type=model_type)


def _materialize(tmp_path, db_path):
    result = dg.materialize([regressions], resources=resources_under(tmp_path, db_path))
    assert result.success  # the check is not blocking: a failing check does not fail the run
    metadata = result.asset_materializations_for_node("regressions")[0].metadata
    (check,) = result.get_asset_check_evaluations()
    return metadata, check


def test_a_stored_step_is_found_fails_the_check_and_is_not_duplicated_on_the_next_evaluation(tmp_path):
    db_path = tmp_path / "results.duckdb"
    noise = np.exp(0.02 * np.random.default_rng(1).standard_normal(30))
    _store(db_path, "bert", (100.0 * noise[:20]).tolist() + (130.0 * noise[20:]).tolist(), seed=2)
    _store(db_path, "gpt2", [50.0, 51.0, 49.0], seed=3)
    metadata, check = _materialize(tmp_path, db_path)
    assert metadata["series"].value == 2 and metadata["insufficient_history"].value == 1
    assert metadata["confirmed"].value == 1 and "change_point" in metadata["findings"].value
    assert not check.passed and check.metadata["standing_slowdowns"].value == 1
    assert check.check_name == "no_confirmed_regressions"

    _materialize(tmp_path, db_path)  # nothing new measured: the same finding, replaced in place
    with connect(db_path, read_only=True) as conn:
        stored = conn.execute("SELECT model_type, method, state, run_id FROM regressions").fetchall()
    assert stored == [("bert", "change_point", "confirmed", "bert-20")]


def test_a_store_without_steps_passes_the_check(tmp_path):
    db_path = tmp_path / "results.duckdb"
    _store(db_path, "bert", (100.0 * np.exp(0.02 * np.random.default_rng(4).standard_normal(12))).tolist(), seed=5)
    metadata, check = _materialize(tmp_path, db_path)
    assert check.passed and metadata["judged"].value == 1


def test_the_confirmation_sensor_re_measures_a_pending_finding_once_with_its_own_configuration(tmp_path):
    from mlperf_pipeline.definitions import defs
    from mlperf_pipeline.orchestration.sensors import regression_confirmation_sensor

    db_path = tmp_path / "results.duckdb"
    levels = (100.0 * np.exp(0.02 * np.random.default_rng(6).standard_normal(25))).tolist()
    _store(db_path, "bert", [*levels, 130.0], seed=7)
    metadata, _ = _materialize(tmp_path, db_path)
    assert metadata["pending"].value == 1
    resources = resources_under(tmp_path, db_path)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        (request,) = regression_confirmation_sensor(context).run_requests
    assert request.partition_key == "cpu|bert" and request.tags == {
        "mlperf/force": "true",
        "mlperf/confirms": "bert-25",
    }
    config = request.run_config["ops"]["benchmark_results"]["config"]
    assert config == {"size": "tiny", "batch_sizes": [1], "dtypes": ["float32"], "seq_lens": [128]}
    assert request.run_key == "confirm:cpu/bert/tiny/1/128/float32/latency/1:bert-25"
    assert dg.validate_run_config(defs.resolve_job_def("benchmark_job"), request.run_config)

    # Once a later run of the series is stored, nothing is left to re-measure.
    row = result_row("bert", run_id="bert-26", measured_at=datetime(2025, 3, 3), latency_ms_p50=131.0)
    write_partition_results(db_path, [row], [], dagster_run_id="bert-26", hardware="cpu", model_type="bert")
    with dg.instance_for_test() as instance:
        skipped = regression_confirmation_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(skipped, dg.SkipReason) and "no pending regression" in skipped.skip_message


def test_the_anomalies_asset_flags_one_far_run_and_replaces_its_rows_when_judged_again(tmp_path):
    from mlperf_pipeline.orchestration.assets.detection import anomalies
    from mlperf_pipeline.store.results import read_anomalies

    db_path = tmp_path / "results.duckdb"
    levels = (100.0 * np.exp(0.02 * np.random.default_rng(8).standard_normal(20))).tolist()
    levels[9] *= 1.5  # ~20 sigma slow, once
    _store(db_path, "bert", levels, seed=9)
    for _ in range(2):
        result = dg.materialize([anomalies], resources=resources_under(tmp_path, db_path))
        assert result.success
    metadata = result.asset_materializations_for_node("anomalies")[0].metadata
    assert metadata["scored_runs"].value == 20 and metadata["slower"].value >= 1
    assert metadata["dagster/row_count"].value == len(read_anomalies(db_path))
    assert "bert-9" in metadata["anomalies_table"].value
    stored = read_anomalies(db_path)
    assert stored["run_id"].iloc[0] == "bert-9" and stored["robust_z"].iloc[0] > 10
    assert len(stored) == metadata["anomalies"].value  # judged twice, stored once
    with connect(db_path, read_only=True) as conn:
        runs = conn.execute("SELECT detector, series, findings FROM detection_runs").fetchall()
    assert runs == [("anomalies", 1, len(stored))] * 2
