"""`performance_predictor` materialised for real: tiny bert, distilbert and gpt2 measured, gpt2
held out of training; its predictions land beside its measurements with `holdout = true`."""

import dagster as dg
import pytest

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.hardware import hardware_ceilings
from mlperf_pipeline.orchestration.assets.modelling import performance_predictor
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.partitions import range_tags
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.modelling import read_latest_predictions, read_workload_counts

TYPES = ["bert", "distilbert", "gpt2"]


def _predict(instance, resources, **config):
    return dg.materialize(
        [performance_predictor],
        instance=instance,
        resources=resources,
        run_config=dg.RunConfig(ops={"performance_predictor": {"config": config}}),
        raise_on_error=False,
    )


@pytest.mark.slow
def test_held_out_types_are_left_out_of_training_and_predicted_beside_their_measurements(tmp_path):
    resources = resources_under(tmp_path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("model_type", TYPES)
        instance.add_dynamic_partitions("hardware", ["cpu"])
        quick = {"processes": 2, "seconds_per_kernel": 0.05}
        assert dg.materialize(
            [hardware_ceilings], partition_key="cpu", instance=instance, resources=resources,
            run_config=dg.RunConfig(ops={"hardware_ceilings": {"config": quick}}),
        ).success  # fmt: skip
        bench = {"batch_sizes": [1, 8], "seq_lens": [128], "max_seconds_per_config": 1.0}
        assert dg.materialize(
            [skillsets, benchmark_results], instance=instance, resources=resources,
            tags=range_tags("cpu", "bert", "gpt2"),
            run_config=dg.RunConfig(ops={"benchmark_results": {"config": bench}}),
        ).success  # fmt: skip
        bad = _predict(instance, resources, holdout_model_types=["no_such_type"])
        assert not bad.success
        assert "holdout_model_types names types the catalogue does not have" in str(
            bad.get_step_failure_events()[0].event_specific_data.error
        )
        result = _predict(instance, resources, holdout_model_types=["gpt2"], model_types=TYPES)
        assert result.success
    predictions = read_latest_predictions(tmp_path / "results.duckdb")
    assert set(predictions["model_type"]) == set(TYPES)
    assert set(predictions[predictions["holdout"]]["model_type"]) == {"gpt2"}
    beside = predictions[predictions["holdout"] & predictions["measured_ms"].notna()]
    assert set(zip(beside["size"], beside["batch_size"], beside["dtype"])) == {
        ("tiny", 1, "float32"),
        ("tiny", 8, "float32"),
    }
    assert set(predictions["size"]) == {"tiny", "full"} and set(predictions["batch_size"]) == {1, 8, 32}
    assert set(predictions["dtype"]) == {"float32", "bfloat16"}
    counted = predictions[predictions["flops"].notna()]
    # Two training types give few held-out residuals: the interval need not straddle the point, but it is one.
    assert (counted["lower_ms"] < counted["upper_ms"]).all() and (counted["predicted_ms"] > 0).all()
    assert counted[counted["batch_size"] == 32]["extrapolated"].all()  # trained on batch 1 and 8 only
    (materialization,) = result.asset_materializations_for_node("performance_predictor")
    assert materialization.metadata["holdout_model_types"].value == ["gpt2"]
    assert materialization.metadata["trained_rows"].value > 0
    counts = read_workload_counts(tmp_path / "results.duckdb")
    assert set(counts["model_type"]) == set(TYPES) and counts[counts["size"] == "full"]["flops"].notna().all()
