"""Real Dagster runs against a temp DuckDB file and a temp Dagster instance."""

import socket
from pathlib import Path

import dagster as dg
import pytest

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.definitions import build_definitions, defs
from mlperf_pipeline.orchestration.jobs import SMOKE_MODELS
from mlperf_pipeline.orchestration.partitions import contiguous_ranges
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.orchestration.sensors import model_catalog_sensor
from mlperf_pipeline.store.results import read_current_results, read_results_history


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_definitions_load_with_every_contract_name():
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "environment",
        "hardware_inventory",
        "model_catalog",
        "skillsets",
        "benchmark_results",
        "benchmark_report",
    } <= keys
    for job in ("ci_smoke_job", "benchmark_job", "analysis_job"):
        assert defs.resolve_job_def(job) is not None
    assert defs.resolve_sensor_def("model_catalog_sensor").default_status == dg.DefaultSensorStatus.RUNNING


def test_catalogue_sensor_registers_in_tier_order_then_skips_an_unchanged_catalogue(instance):
    result = model_catalog_sensor(dg.build_sensor_context(instance=instance))
    (request,) = result.dynamic_partitions_requests
    assert request.partition_keys[: len(SMOKE_MODELS)] == SMOKE_MODELS
    assert isinstance(
        model_catalog_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor)), dg.SkipReason
    )


@pytest.mark.slow
def test_a_benchmark_partition_materialises_into_duckdb_with_its_own_data_version(instance, tmp_path):
    instance.add_dynamic_partitions("model_type", ["bert", "distilbert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    resources = resources_under(tmp_path)
    config = dg.RunConfig(ops={"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": 1.0}}})
    for tags in (
        {},
        {"mlperf/force": "true"},
    ):  # re-materialising (forced: inputs unchanged) keeps history and one current result set
        result = dg.materialize(
            [skillsets, benchmark_results],
            partition_key="cpu|bert",
            instance=instance,
            resources=resources,
            run_config=config,
            tags=tags,
        )
        assert result.success
    current = read_current_results(tmp_path / "results.duckdb")
    assert list(current["model_type"]) == ["bert"] and current["status"].iloc[0] in ("ok", "invalid")
    assert current["latency_ms_p50"].iloc[0] > 0 and current["seq_len"].iloc[0] == 16
    assert len(read_results_history(tmp_path / "results.duckdb")) == 2
    latest = instance.fetch_materializations(dg.AssetKey("skillsets"), limit=1).records[0]
    assert len(latest.asset_materialization.tags["dagster/data_version"]) == 16
    assert latest.partition_key == "cpu|bert"


@pytest.mark.slow
def test_range_run_gives_each_partition_its_own_data_version(instance, tmp_path):
    instance.add_dynamic_partitions("model_type", ["bert", "distilbert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    result = dg.materialize(
        [skillsets],
        instance=instance,
        resources=resources_under(tmp_path),
        tags={"dagster/asset_partition_range_start": "cpu|bert", "dagster/asset_partition_range_end": "cpu|distilbert"},
    )
    assert result.success
    versions = {}
    for key in ("cpu|bert", "cpu|distilbert"):
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("skillsets"), asset_partitions=[key]), limit=1
        ).records[0]
        versions[key] = record.asset_materialization.tags["dagster/data_version"]
    assert versions["cpu|bert"] != versions["cpu|distilbert"]


@pytest.mark.slow
def test_ci_smoke_job_runs_catalogue_to_report_in_one_run(instance, tmp_path):
    smoke_defs = build_definitions(resources_under(tmp_path))
    instance.add_dynamic_partitions("model_type", SMOKE_MODELS)  # what `make` registers first
    instance.add_dynamic_partitions("hardware", ["cpu"])
    result = smoke_defs.resolve_job_def("ci_smoke_job").execute_in_process(instance=instance)
    assert result.success
    current = read_current_results(tmp_path / "results.duckdb")
    assert sorted(current["model_type"]) == SMOKE_MODELS
    # Validity depends on how quiet the machine is; that every model was measured does not.
    assert current["status"].isin(["ok", "invalid"]).all(), current[["model_type", "status", "reason"]]
    assert (current["latency_ms_p50"] > 0).all()
    assert set(current.loc[current["status"] == "invalid", "reason_code"]) <= {"too_noisy", "too_few_samples"}
    report = (tmp_path / "reports" / "report.html").read_text()
    for model in SMOKE_MODELS:
        assert model in report
    registered = instance.get_dynamic_partitions("model_type")
    assert len(registered) > 600 and registered[:5] == SMOKE_MODELS


def test_key_sets_split_into_contiguous_ranges():
    registered = ["a", "b", "c", "d", "e"]
    assert contiguous_ranges(["a", "b", "d"], registered) == [("a", "b"), ("d", "d")]
    with pytest.raises(ValueError, match="not registered"):
        contiguous_ranges(["z"], registered)


@pytest.mark.slow
def test_a_run_over_two_sizes_writes_both_per_partition_with_one_materialisation(instance, tmp_path):
    instance.add_dynamic_partitions("model_type", ["bert", "distilbert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    grid = {
        "size": ["tiny", "full"],
        "seq_lens": [16],
        "max_seconds_per_config": 1.0,
        "processes": 2,
        "max_processes": 2,
    }
    result = dg.materialize(
        [skillsets, benchmark_results],
        instance=instance,
        resources=resources_under(tmp_path),
        run_config=dg.RunConfig(ops={"benchmark_results": {"config": grid}}),
        tags={"dagster/asset_partition_range_start": "cpu|bert", "dagster/asset_partition_range_end": "cpu|distilbert"},
    )
    assert result.success
    current = read_current_results(tmp_path / "results.duckdb")
    assert sorted(zip(current["model_type"], current["size"])) == [
        ("bert", "full"),
        ("bert", "tiny"),
        ("distilbert", "full"),
        ("distilbert", "tiny"),
    ]
    assert current["status"].isin(["ok", "invalid"]).all(), current[["model_type", "size", "status", "reason"]]
    assert (current["n_processes"] == 2).all()
    # A full-size model costs more FLOPs than its tiny config: the two sizes are really different models.
    by_size = current.set_index(["model_type", "size"])["flops"]
    assert (by_size.xs("full", level="size") > 10 * by_size.xs("tiny", level="size")).all()
    materialized = [
        event.event_specific_data.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("benchmark_results")
        and "rows" in event.event_specific_data.materialization.metadata  # not the range's output
    ]
    assert sorted(m.partition for m in materialized) == ["cpu|bert", "cpu|distilbert"]
    assert all(m.metadata["rows"].value == 2 for m in materialized)
    # The UI shows each partition's rows: a count and a preview table of both sizes with their verdicts.
    for m in materialized:
        assert m.metadata["dagster/row_count"].value == 2
        preview = m.metadata["results"].value.splitlines()
        assert preview[0].startswith("| size | batch |") and len(preview) == 4
        assert {line.split(" | ")[0].strip("| ") for line in preview[2:]} == {"full", "tiny"}
        statuses = set(current[current["model_type"] == m.partition.split("|")[1]]["status"])
        assert all(any(f" {status} " in line for status in statuses) for line in preview[2:])
        # ... and links a plot file of this run's calls and each series' history, not an image in the event.
        plot = Path(m.metadata["plot"].value)
        model_type = m.partition.split("|")[1]
        assert plot == tmp_path / "reports" / "partitions" / "cpu" / f"{model_type}.png"
        assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.parametrize(
    "field, config",
    [
        ("batch_sizes", {"batch_sizes": [-1]}),
        ("size", {"size": ["tiny", "huge"]}),
        ("size", {"size": ["tiny", "tiny"]}),
        ("size", {"size": []}),
    ],
)
def test_bad_run_config_is_refused_before_anything_is_stored(instance, tmp_path, field, config):
    instance.add_dynamic_partitions("model_type", ["bert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    resources = resources_under(tmp_path)
    config = dg.RunConfig(ops={"benchmark_results": {"config": config}})
    with pytest.raises(Exception, match=field):
        dg.materialize(
            [skillsets, benchmark_results],
            partition_key="cpu|bert",
            instance=instance,
            resources=resources,
            run_config=config,
        )
    assert read_current_results(tmp_path / "results.duckdb").empty


@pytest.mark.slow
def test_a_profile_asking_for_an_unknown_size_is_refused_naming_the_profile_and_the_field(
    instance, tmp_path, monkeypatch
):
    import yaml

    from mlperf_pipeline.settings import _PACKAGED

    settings = yaml.safe_load(_PACKAGED.read_text())
    settings["profiles"]["huge"] = {"size": ["full", "huge"]}
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("MLPERF_SETTINGS", str(tmp_path / "settings.yaml"))
    instance.add_dynamic_partitions("model_type", ["bert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    with pytest.raises(Exception, match=r"benchmark profile 'huge'.*size must be one of"):
        dg.materialize(
            [skillsets, benchmark_results],
            partition_key="cpu|bert",
            instance=instance,
            resources=resources_under(tmp_path),
            tags={"mlperf/profile": "huge"},
        )
    assert read_current_results(tmp_path / "results.duckdb").empty


def test_a_run_whose_process_died_is_marked_failed_by_the_next_start(instance):
    import subprocess
    import sys

    from mlperf_pipeline.orchestration.run_health import claim_run

    dead_process = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_process.wait()
    orphan = instance.add_run(
        dg.DagsterRun(job_name="benchmark_job", run_id="orphan-run", status=dg.DagsterRunStatus.STARTED)
    )
    claim_run(instance, orphan.run_id)
    instance.add_run_tags(orphan.run_id, {"mlperf/pid": str(dead_process.pid)})
    live = instance.add_run(
        dg.DagsterRun(job_name="benchmark_job", run_id="live-run", status=dg.DagsterRunStatus.STARTED)
    )
    assert claim_run(instance, live.run_id) == ["orphan-run"]
    assert instance.get_run_by_id("orphan-run").status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("live-run").status == dg.DagsterRunStatus.STARTED


def test_a_started_run_whose_celery_task_no_live_worker_has_is_failed_after_the_grace(instance):
    """The cluster check of `dead_run_sensor`; the live workers are what Celery's
    `inspect().active()` answers (the loopback cluster test kills a real worker)."""
    from mlperf_pipeline.orchestration.run_health import (
        CeleryWorkers,
        mark_dead_runs_failed,
        mark_lost_celery_runs_failed,
    )

    def started(run_id: str, task: str) -> None:
        instance.add_run(dg.DagsterRun(job_name="benchmark_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED))
        # on this host, under a pid that is gone: the host-local check must leave Celery runs to the cluster check
        instance.add_run_tags(
            run_id, {"dagster-celery/task_id": task, "mlperf/host": socket.gethostname(), "mlperf/pid": "999999999"}
        )

    started("lost-run", "task-lost")
    started("running-run", "task-running")
    assert mark_dead_runs_failed(instance) == []

    workers = CeleryWorkers(hostnames=frozenset({"cpu@alive"}), active_tasks=frozenset({"task-running"}))
    failed, missing = mark_lost_celery_runs_failed(instance, workers, {}, grace_s=60)
    assert failed == [] and set(missing) == {"lost-run"}  # missing once: a late reply is not a death
    failed, missing = mark_lost_celery_runs_failed(
        instance, workers, {"lost-run": missing["lost-run"] - 61}, grace_s=60
    )
    assert failed == ["lost-run"] and missing == {}
    assert instance.get_run_by_id("lost-run").status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("running-run").status == dg.DagsterRunStatus.STARTED
    failure = instance.all_logs("lost-run", of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    assert "no live Celery worker is running its task task-lost" in failure.message


@pytest.mark.slow
def test_partitions_a_killed_run_already_stored_are_not_measured_again(instance, tmp_path):
    """The run wrote bert's rows to DuckDB but died before Dagster heard of them."""
    instance.add_dynamic_partitions("model_type", ["bert"])
    instance.add_dynamic_partitions("hardware", ["cpu"])
    resources = resources_under(tmp_path)
    config = dg.RunConfig(ops={"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": 1.0}}})
    assert dg.materialize(
        [skillsets, benchmark_results],
        partition_key="cpu|bert",
        instance=instance,
        resources=resources,
        run_config=config,
    ).success
    with dg.instance_for_test() as fresh_instance:  # Dagster's memory of the materialisation is gone
        fresh_instance.add_dynamic_partitions("model_type", ["bert"])
        fresh_instance.add_dynamic_partitions("hardware", ["cpu"])
        result = dg.materialize(
            [skillsets, benchmark_results],
            partition_key="cpu|bert",
            instance=fresh_instance,
            resources=resources,
            run_config=config,
        )
        assert result.success
        (event,) = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey("benchmark_results") and e.materialization.metadata.get("measured")
        ]
        assert event.materialization.metadata["measured"].value is False
    assert len(read_results_history(tmp_path / "results.duckdb")) == 1


def test_a_skillset_module_is_measured_only_if_it_is_the_one_its_record_names(tmp_path):
    import json

    from mlperf_pipeline.orchestration.assets.benchmarks import verified_record
    from mlperf_pipeline.skillsets.render import source_hash

    module = tmp_path / "hf_bert.py"
    module.write_text("def build(size):\n    ...\n")
    record = {
        "model_type": "bert",
        "partition_key": "bert",
        "hardware": "cpu",
        "family": "encoder",
        "path": str(module),
        "source_hash": source_hash(module.read_text()),
        "overridden": False,
        "verdict": {},
        "params": {},
        "model_class": "BertModel",
        "patched": False,
    }
    (tmp_path / "verdicts" / "cpu").mkdir(parents=True)
    (tmp_path / "verdicts" / "cpu" / "bert.json").write_text(json.dumps(record))
    assert verified_record(tmp_path, "cpu", "bert").source_hash == record["source_hash"]
    module.write_text("def build(size):\n    return 'edited'\n")
    with pytest.raises(ValueError, match=r"hf_bert.py for cpu\|bert is not the module recorded"):
        verified_record(tmp_path, "cpu", "bert")
    module.unlink()
    with pytest.raises(ValueError, match="is missing: materialise `skillsets`"):
        verified_record(tmp_path, "cpu", "bert")
