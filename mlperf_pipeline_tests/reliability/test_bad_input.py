"""Bad input gets a clear error naming what is wrong, and stored data is never touched."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from mlperf_pipeline.orchestration import launch
from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.db import StoreError
from mlperf_pipeline.store.results import read_results_history


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions("model_type", ["bert"])
        test_instance.add_dynamic_partitions("hardware", ["cpu"])
        yield test_instance


def _materialize(instance, tmp_path, config=None, partition_key="cpu|bert"):
    run_config = dg.RunConfig(
        ops={"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": 0.5, **(config or {})}}}
    )
    return dg.materialize(
        [skillsets, benchmark_results],
        partition_key=partition_key,
        instance=instance,
        resources=resources_under(tmp_path),
        run_config=run_config,
    )


@pytest.mark.slow
def test_a_results_file_that_is_not_a_database_fails_clearly_and_is_left_alone(instance, tmp_path):
    not_a_database = tmp_path / "results.duckdb"
    not_a_database.write_text("these are someone's notes, not a database\n")
    with pytest.raises(StoreError, match="results.duckdb exists but is not a DuckDB database"):
        _materialize(instance, tmp_path)
    assert not_a_database.read_text() == "these are someone's notes, not a database\n"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"batch_sizes": "eight"}, "batch_sizes"),
        ({"dtypes": ["float8"]}, "dtypes"),
        ({"size": "huge"}, "size"),
        ({"seq_lens": [0]}, "seq_lens"),
        ({"workers": [-2]}, "workers"),
    ],
)
@pytest.mark.slow
def test_malformed_run_config_names_the_field(instance, tmp_path, config, field):
    with pytest.raises(Exception, match=field):
        _materialize(instance, tmp_path, config)
    # Skillsets (and their smoke checks) may have been stored by the step before; no measurement was.
    assert read_results_history(tmp_path / "results.duckdb").empty


def test_unknown_partition_keys_are_refused(instance, tmp_path):
    with pytest.raises(Exception, match="tpu"):
        _materialize(instance, tmp_path, partition_key="tpu|bert")


def test_launchers_refuse_unknown_hardware_models_and_tiers(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="unknown hardware 'tpu'"):
        launch.main(["bench", "--hardware", "tpu"])
    with pytest.raises(ValueError, match="no_such_model"):
        launch.main(["bench", "--hardware", "cpu", "--models", "bert,no_such_model"])
    with pytest.raises(ValueError, match="unknown tier 'urgent'"):
        launch.main(["bench", "--hardware", "cpu", "--tier", "urgent"])


@pytest.mark.slow
def test_a_run_for_unregistered_hardware_names_it_and_the_fix(tmp_path):
    """`cuda` is a device kind the code knows, but this home never registered it (no GPU here, none
    in the settings, no cuda rows stored): `dagster job execute` says so and how to fix it, and
    stores nothing. (In process, Dagster refuses such a range before any step runs.)"""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    with dg.DagsterInstance.from_config(str(dagster_home)) as home:
        home.add_dynamic_partitions("model_type", ["bert"])
        home.add_dynamic_partitions("hardware", ["cpu"])
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "MLPERF_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "mlperf_pipeline.definitions"]
    command += ["-j", "benchmark_job", "--tags", json.dumps({"dagster/partition": "cuda|bert"})]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode != 0
    assert "not registered: {'hardware': ['cuda']}; run `make register`" in completed.stdout + completed.stderr
    assert not (tmp_path / "results.duckdb").exists() or read_results_history(tmp_path / "results.duckdb").empty
