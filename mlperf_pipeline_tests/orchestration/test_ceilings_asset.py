"""`hardware_ceilings` materialised for real, and what the benchmark rows take from it."""

import dagster as dg
import pytest

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.hardware import hardware_ceilings
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.modelling import read_latest_ceilings
from mlperf_pipeline.store.results import read_current_results

QUICK = dg.RunConfig(ops={"hardware_ceilings": {"config": {"processes": 2, "seconds_per_kernel": 0.05}}})


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions("hardware", ["cpu", "cuda"])  # cuda: listed, absent here
        yield test_instance


def _ceilings(instance, resources, partition, run_config=QUICK, **kwargs):
    return dg.materialize(
        [hardware_ceilings],
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config=run_config,
        **kwargs,
    )


@pytest.mark.slow
def test_ceilings_land_in_duckdb_and_the_next_benchmark_rows_sit_under_them(instance, tmp_path):
    resources = resources_under(tmp_path)
    result = _ceilings(instance, resources, "cpu")
    assert result.success
    ceilings = read_latest_ceilings(tmp_path / "results.duckdb")
    assert set(ceilings["metric"]) == {"matmul_flops", "copy_bandwidth", "triad_bandwidth"}
    assert set(ceilings["dtype"]) == {"float32", "bfloat16"} and (ceilings["value"] > 0).all()
    assert (ceilings["n_processes"] == 2).all() and ceilings["threads"].notna().all()
    (materialization,) = result.asset_materializations_for_node("hardware_ceilings")
    assert materialization.metadata["dagster/row_count"].value == len(ceilings)
    assert materialization.metadata["peak_float32_gflop_s"].value > 0

    instance.add_dynamic_partitions("model_type", ["bert"])
    config = dg.RunConfig(ops={"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": 1.0}}})
    assert dg.materialize(
        [skillsets, benchmark_results],
        partition_key="cpu|bert",
        instance=instance,
        resources=resources,
        run_config=config,
    ).success
    row = read_current_results(tmp_path / "results.duckdb").iloc[0]
    assert row["flops"] > 0 and row["bytes"] > 0 and row["ops"] > 0 and row["count_reason"] is None
    assert 0 < row["roofline_fraction"] < 1 and row["bound"] in ("compute", "memory")


@pytest.mark.slow
def test_absent_hardware_measures_nothing_and_bad_config_stores_nothing(instance, tmp_path):
    resources = resources_under(tmp_path)
    result = _ceilings(instance, resources, "cuda")
    (materialization,) = result.asset_materializations_for_node("hardware_ceilings")
    assert materialization.metadata["measured"].value is False
    assert "no cuda device" in materialization.metadata["reason"].value
    bad = dg.RunConfig(ops={"hardware_ceilings": {"config": {"processes": 0}}})
    failed = _ceilings(instance, resources, "cpu", run_config=bad, raise_on_error=False)
    assert not failed.success
    assert "processes must be ≥ 1" in str(failed.get_step_failure_events()[0].event_specific_data.error)
    assert read_latest_ceilings(tmp_path / "results.duckdb").empty
