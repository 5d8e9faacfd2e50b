"""Routing on a cluster, without one: the tags a run gets from its partitions, the run queue that
applies them, the worker-side guard, and the shipped deploy/ files against Dagster's schemas."""

import json
from pathlib import Path

import dagster as dg
import pytest

from mlperf_pipeline.store.lake import LakeLocation
import yaml

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.coordinator import RoutingRunCoordinator
from mlperf_pipeline.orchestration.resources import deployment, resources_under
from mlperf_pipeline.orchestration.routing import (
    CELERY_QUEUE_TAG,
    HARDWARE_TAG,
    K8S_CONFIG_TAG,
    RoutingError,
    check_worker_serves,
    routing_tags_for,
    run_hardware,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


@pytest.mark.parametrize(
    ("tags", "hardware"),
    [
        ({"dagster/partition": "cuda|bert", "dagster/partition/hardware": "cuda"}, "cuda"),  # UI, one cell
        ({"dagster/partition": "rocm|gpt2"}, "rocm"),  # `dagster job execute --tags`
        ({"dagster/partition": "cuda"}, "cuda"),  # ceilings_job
        ({RANGE[0]: "cpu|albert", RANGE[1]: "cpu|whisper"}, "cpu"),  # make bench, a single-run backfill
        ({"dagster/partition": "bert"}, None),  # a model_type partition (skillset_overrides)
        ({}, None),  # analysis_job
    ],
)
def test_a_runs_hardware_comes_from_the_partition_tags_every_launch_path_sets(tags, hardware):
    assert run_hardware(tags) == hardware


def test_a_range_over_two_hardware_kinds_is_refused_naming_both():
    with pytest.raises(RoutingError, match=r"cpu\|bert \.\.\. cuda\|bert spans hardware cpu and cuda"):
        run_hardware({RANGE[0]: "cpu|bert", RANGE[1]: "cuda|bert"})


def test_each_hardware_gets_its_queue_and_a_node_that_has_it():
    cuda = routing_tags_for({"dagster/partition": "cuda|bert"})
    assert cuda[HARDWARE_TAG] == "cuda" and cuda[CELERY_QUEUE_TAG] == "cuda"
    placement = json.loads(cuda[K8S_CONFIG_TAG])
    assert placement["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert placement["pod_spec_config"]["node_selector"] == {"nvidia.com/gpu.present": "true"}
    retry = {"dagster/retry_strategy": "ALL_STEPS"}
    assert routing_tags_for({"dagster/partition": "cpu|bert"}) == {
        HARDWARE_TAG: "cpu",
        CELERY_QUEUE_TAG: "cpu",
        **retry,
    }
    assert routing_tags_for({}) == {CELERY_QUEUE_TAG: "cpu", **retry}
    # a retry strategy the launcher chose is kept
    chosen = {"dagster/partition": "cpu|bert", "dagster/retry_strategy": "FROM_FAILURE"}
    assert "dagster/retry_strategy" not in routing_tags_for(chosen)


def test_a_queue_tag_that_contradicts_the_partitions_is_refused():
    with pytest.raises(RoutingError, match="dagster-celery/queue='cpu'"):
        routing_tags_for({"dagster/partition": "cuda|bert", CELERY_QUEUE_TAG: "cpu"})
    routing = {"default_queue": "cpu", "hardware": {"cpu": {"queue": "cpu"}}}
    with pytest.raises(RoutingError, match="no route for hardware 'cuda'"):
        routing_tags_for({"dagster/partition": "cuda|bert"}, routing)


def _shipped_instance_config() -> dict:
    return yaml.safe_load((DEPLOY / "cluster" / "dagster.yaml").read_text())


@pytest.fixture
def routed_instance():
    coordinator = _shipped_instance_config()["run_coordinator"]
    with dg.instance_for_test(overrides={"run_coordinator": coordinator}) as instance:
        yield instance


def _job_origin():
    """Where a queued run's job is loaded from (the daemon needs it): our definitions module."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="mlperf_pipeline.definitions"))
    return RemoteRepositoryOrigin(location, "__repository__").get_job_origin("benchmark_job")


def _submitted(instance, run_id: str, tags: dict) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="benchmark_job", run_id=run_id, tags=tags, remote_job_origin=_job_origin())
    run = instance.add_run(run)
    return instance.run_coordinator.submit_run(dg.SubmitRunContext(run, workspace=None))


def test_the_shipped_run_queue_routes_every_run_it_queues(routed_instance):
    assert isinstance(routed_instance.run_coordinator, RoutingRunCoordinator)
    queued = _submitted(routed_instance, "cuda-run", {"dagster/partition": "cuda|bert"})
    assert queued.status == dg.DagsterRunStatus.QUEUED
    assert queued.tags[CELERY_QUEUE_TAG] == "cuda" and queued.tags[HARDWARE_TAG] == "cuda"
    assert "nvidia.com/gpu" in queued.tags[K8S_CONFIG_TAG]
    analysis = _submitted(routed_instance, "analysis-run", {})
    assert analysis.status == dg.DagsterRunStatus.QUEUED and analysis.tags[CELERY_QUEUE_TAG] == "cpu"


def test_a_run_no_worker_can_take_fails_at_the_queue_with_the_reason(routed_instance):
    refused = _submitted(routed_instance, "mixed-run", {RANGE[0]: "cpu|bert", RANGE[1]: "cuda|bert"})
    assert refused.status == dg.DagsterRunStatus.FAILURE
    records = routed_instance.get_records_for_run("mixed-run").records
    messages = [record.event_log_entry.message for record in records]
    assert any("not queued: the partition range cpu|bert ... cuda|bert spans hardware" in m for m in messages)


def test_a_worker_refuses_partitions_of_hardware_it_does_not_serve(monkeypatch, tmp_path):
    check_worker_serves(["cpu", "cuda"])  # not a worker: nothing to check
    monkeypatch.setenv("MLPERF_WORKER_HARDWARE", "cuda")
    check_worker_serves(["cuda"])
    with pytest.raises(RoutingError, match="this worker serves cuda .* not cpu"):
        check_worker_serves(["cpu"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("model_type", ["bert"])
        instance.add_dynamic_partitions("hardware", ["cpu"])
        result = dg.materialize(
            [skillsets, benchmark_results],
            partition_key="cpu|bert",
            instance=instance,
            resources=resources_under(tmp_path),
            raise_on_error=False,
        )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert failure.step_key == "skillsets" and "not cpu" in str(failure.step_failure_data.error)
    assert not (tmp_path / "results.duckdb").exists()


def test_the_cluster_deployment_keeps_results_in_a_lake_on_the_instance_postgres(monkeypatch, tmp_path):
    monkeypatch.setenv("MLPERF_HOME", str(tmp_path / "shared"))
    monkeypatch.delenv("MLPERF_DB", raising=False)
    for name in ("MLPERF_PG_HOST", "MLPERF_PG_PORT", "MLPERF_PG_USER", "MLPERF_PG_DB"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="set MLPERF_PG_HOST, MLPERF_PG_PORT, MLPERF_PG_USER, MLPERF_PG_DB"):
        deployment("cluster").resources()
    pg = {
        "MLPERF_PG_HOST": "db.internal",
        "MLPERF_PG_PORT": "5432",
        "MLPERF_PG_USER": "mlperf",
        "MLPERF_PG_DB": "dagster",
    }
    for name, value in pg.items():
        monkeypatch.setenv(name, value)
    store = deployment("cluster").resources()["results_store"].path
    assert store == LakeLocation(
        catalog="postgres:host=db.internal port=5432 user=mlperf dbname=dagster",
        data_path=str(tmp_path / "shared" / "lake"),
    )
    assert isinstance(deployment("local").resources()["results_store"].path, Path)
    monkeypatch.setenv("MLPERF_DB", str(tmp_path / "one.duckdb"))  # a cluster may still name a file
    assert deployment("cluster").resources()["results_store"].path == tmp_path / "one.duckdb"


def test_the_cluster_deployment_keeps_device_locks_on_the_node(monkeypatch, tmp_path):
    monkeypatch.setenv("MLPERF_HOME", str(tmp_path / "shared"))
    monkeypatch.setenv("MLPERF_NODE_DIR", str(tmp_path / "node"))
    monkeypatch.setenv("MLPERF_DB", "ducklake:sqlite:" + str(tmp_path / "catalog.sqlite"))
    settings = deployment("cluster").resources()["bench_settings"]
    assert settings.lock_dir == tmp_path / "node" / "locks"
    assert Path(settings.home) == tmp_path / "shared"
    assert deployment("local").resources()["bench_settings"].lock_dir == tmp_path / "shared" / "locks"
    with pytest.raises(ValueError, match="unknown MLPERF_DEPLOYMENT 'kubernetes'"):
        deployment("kubernetes")


def test_the_shipped_instance_and_celery_files_match_dagsters_schemas(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("MLPERF_CELERY_BROKER", "redis://127.0.0.1:6399/0")
    monkeypatch.setenv("MLPERF_CELERY_BACKEND", "redis://127.0.0.1:6399/1")

    (tmp_path / "dagster.yaml").write_text((DEPLOY / "cluster" / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "CeleryRunLauncher"
    assert config["run_monitoring"]["enabled"] is True
    celery = get_validated_config(str(DEPLOY / "cluster" / "celery.yaml"))
    assert celery["broker"] == "redis://127.0.0.1:6399/0"
    assert celery["config_source"]["worker_prefetch_multiplier"] == 1


def test_the_helm_values_route_to_our_queue_and_their_pods_validate_against_dagster_k8s():
    from dagster._config import validate_config
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    custom = values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert (custom["module"], custom["class"]) == ("mlperf_pipeline.orchestration.coordinator", "RoutingRunCoordinator")
    checked = validate_config(RoutingRunCoordinator.config_type(), custom["config"])
    assert checked.success, checked.errors
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    job_config = DagsterK8sJobConfig(
        job_image="registry.example.com/mlperf-pipeline:latest",
        dagster_home="/opt/dagster/dagster_home",
        instance_config_map="dagster-instance",
        env_vars=launcher["envVars"],
        volumes=launcher["volumes"],
        volume_mounts=launcher["volumeMounts"],
    )
    for hardware in ("cuda", "rocm"):
        tags = routing_tags_for({"dagster/partition": f"{hardware}|bert"})
        user_config = get_user_defined_k8s_config(tags)  # raises on anything outside dagster-k8s's schema
        job = construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_run"], f"run-{hardware}", user_config)
        pod = job.spec.template.spec
        assert pod.node_selector and pod.tolerations
        limits = pod.containers[0].resources.limits
        assert list(limits.values()) == ["1"] and hardware in tags[HARDWARE_TAG]
        assert {mount.mount_path for mount in pod.containers[0].volume_mounts} >= {"/mlperf"}
