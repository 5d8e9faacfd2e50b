"""The cluster deployment for real, on loopback (`make test-cluster`; `make test` leaves it out):
PostgreSQL instance storage, Redis as the Celery broker, the Dagster daemon with the shipped
deploy/cluster/dagster.yaml, and two Celery workers of different hardware kinds (`cpu`, and `cuda`
on this host, whose rows are `skipped`: routing and storage are tested, not measurement). Results
go to the DuckLake the cluster deployment keeps on that PostgreSQL, its files in a shared folder."""

import os
import signal
import subprocess
import sys
import time
from unittest import mock

import dagster as dg
import pytest
import yaml

from mlperf_pipeline.orchestration.resources import cluster_store
from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.results import read_current_results
from mlperf_pipeline_tests.cluster.servers import BIN, REPO, Postgres, Process, start_redis, start_worker

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
MODELS = "bert,gpt2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    home, logs = root / "home", root / "logs"
    (home / "dagster").mkdir(parents=True)
    logs.mkdir()
    (home / "dagster" / "dagster.yaml").write_text((REPO / "deploy" / "cluster" / "dagster.yaml").read_text())
    postgres = Postgres().start()
    # the fleet's hardware in the settings (README "Hardware partitions"): `cuda` is registered too
    settings = yaml.safe_load((REPO / "mlperf_pipeline" / "defaults.yaml").read_text())
    settings["hardware"] = ["cuda"]
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    env = {
        **os.environ,
        **postgres.env(),
        "MLPERF_SETTINGS": str(root / "settings.yaml"),
        "MLPERF_DEPLOYMENT": "cluster",
        "MLPERF_HOME": str(home),
        "MLPERF_LAKE_DATA": str(root / "shared" / "lake"),
        "DAGSTER_HOME": str(home / "dagster"),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    servers: list[Process] = []
    try:
        redis, port = start_redis(logs, env)
        servers.append(redis)
        env["MLPERF_CELERY_BROKER"] = f"redis://127.0.0.1:{port}/0"
        env["MLPERF_CELERY_BACKEND"] = f"redis://127.0.0.1:{port}/1"
        # registered before the daemon starts, as README "Running on a cluster" orders it: partitions
        # that exist when the automation sensor first looks are not "newly missing", so it requests none
        register = [sys.executable, "-m", "mlperf_pipeline.orchestration.launch", "register"]
        subprocess.run(register, env=env, cwd=str(home), check=True, capture_output=True, timeout=300)
        # this test launches its own runs: the automation sensor's first look at a fresh instance (every
        # partition downstream of a first `environment` observation) would queue the whole catalogue
        stop = [str(BIN / "dagster"), "sensor", "stop", "mlperf_automation_sensor", "-m", "mlperf_pipeline.definitions"]
        subprocess.run(stop, env=env, cwd=str(home), check=True, capture_output=True, timeout=300)
        daemon = Process("daemon", [str(BIN / "dagster-daemon"), "run", "-m", "mlperf_pipeline.definitions"], env, logs)
        servers.append(daemon)
        workers = {queue: start_worker(queue, env, logs) for queue in ("cpu", "cuda")}
        servers.extend(workers.values())
        yield {"env": env, "home": home, "workers": workers, "logs": logs, "servers": servers}
    finally:
        for server in reversed(servers):
            server.stop()
        postgres.stop()


def _launch_bench(env: dict, *args: str) -> subprocess.CompletedProcess:
    """`make bench` under MLPERF_DEPLOYMENT=cluster: one `dagster job launch` per hardware range."""
    command = [sys.executable, "-m", "mlperf_pipeline.orchestration.launch", "bench", *args]
    return subprocess.run(command, env=env, cwd=env["MLPERF_HOME"], capture_output=True, text=True, timeout=600)


def _runs(env: dict) -> list[dg.DagsterRun]:
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    for name in ("MLPERF_PG_HOST", "MLPERF_PG_PORT", "MLPERF_PG_USER", "MLPERF_PG_PASSWORD", "MLPERF_PG_DB"):
        os.environ[name] = env[name]
    for name in ("MLPERF_CELERY_BROKER", "MLPERF_CELERY_BACKEND"):
        os.environ[name] = env[name]
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(dg.RunsFilter(job_name="benchmark_job")))


def test_each_hardware_runs_on_its_own_worker_and_every_result_lands_in_one_store(cluster):
    env = cluster["env"]
    launched = _launch_bench(env, "--hardware", "cpu,cuda", "--models", MODELS, "--size", "tiny")
    assert launched.returncode == 0, launched.stdout[-4000:] + launched.stderr[-4000:]
    runs = _runs(env)
    assert runs and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    for run in runs:
        hardware = run.tags["mlperf/hardware"]
        assert run.tags["dagster-celery/queue"] == hardware
        # the process that ran the run's steps is the worker of its hardware's queue, or one of its pool
        assert int(run.tags["mlperf/pid"]) in cluster["workers"][hardware].pids(), (hardware, run.tags)
    assert {run.tags["mlperf/hardware"] for run in runs} == {"cpu", "cuda"}
    results = read_current_results(_store(env))
    cpu, cuda = results[results["hardware"] == "cpu"], results[results["hardware"] == "cuda"]
    assert set(cpu["model_type"]) == set(MODELS.split(",")) and (cpu["status"] != "skipped").all()
    assert set(cuda["model_type"]) == set(MODELS.split(",")) and (cuda["status"] == "skipped").all()
    # one store for every node: the lake (its catalog in PostgreSQL, its files in the shared folder), no file
    assert not (cluster["home"] / "results.duckdb").exists()
    assert list((cluster["home"].parent / "shared" / "lake").rglob("*.parquet"))


def _store(env: dict):
    with mock.patch.dict(os.environ, env):
        return cluster_store()


def _wait(what: str, ready, timeout_s: float, cluster: dict, poll_s: float = 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = ready()
        if found:
            return found
        time.sleep(poll_s)
    logs = {path.name: path.read_text()[-3000:] for path in cluster["logs"].glob("*.log")}
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; logs: {logs}")


# contiguous in the partitions' (tier) order, so that `make bench` launches them as one run's range
KILLED_MODELS = ["convnext", "deberta-v2", "distilbert", "gemma"]


def test_a_worker_killed_mid_run_loses_nothing_and_the_retry_measures_only_what_is_missing(cluster):
    env, store = cluster["env"], _store(cluster["env"])
    launcher = subprocess.Popen(
        [sys.executable, "-m", "mlperf_pipeline.orchestration.launch", "bench", "--hardware", "cpu"]
        + ["--models", ",".join(KILLED_MODELS), "--size", "tiny"],
        env=env,
        cwd=env["MLPERF_HOME"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stored = lambda: set(read_current_results(store, hardware="cpu", model_types=KILLED_MODELS)["model_type"])  # noqa: E731
    _wait("the run's first stored partition", stored, 600, cluster)
    range_start = f"cpu|{KILLED_MODELS[0]}"
    (killed_run,) = [run for run in _runs(env) if run.tags.get("dagster/asset_partition_range_start") == range_start]
    assert killed_run.tags["dagster/asset_partition_range_end"] == f"cpu|{KILLED_MODELS[-1]}"
    # the whole worker, at once: its main process, its pool, the benchmark processes under them
    cluster["workers"]["cpu"].kill(signal.SIGKILL)
    stored_before_kill = stored()
    assert stored_before_kill < set(KILLED_MODELS), "the run ended before the kill; nothing was tested"
    assert killed_run.status == dg.DagsterRunStatus.STARTED

    failed = lambda: _run(env, killed_run.run_id).status == dg.DagsterRunStatus.FAILURE  # noqa: E731
    _wait("dead_run_sensor to fail the killed worker's run", failed, 180, cluster)
    with dg.DagsterInstance.get() as instance:
        failure = instance.all_logs(killed_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    assert "no live Celery worker is running its task" in failure.message

    # the node comes back; run_retries' retry of the failed run waits in the cpu queue for it
    worker = start_worker("cpu", env, cluster["logs"], name="worker-cpu-restarted")
    cluster["servers"].append(worker)
    retry = _wait("the retry to succeed", lambda: _succeeded_retry(env, killed_run.run_id), 600, cluster)
    assert int(retry.tags["mlperf/pid"]) in worker.pids()
    assert launcher.wait(timeout=120) == 0, launcher.stdout.read()[-4000:]

    with connect(store, read_only=True) as conn:
        rows = conn.execute(
            "SELECT model_type, dagster_run_id, count(*) AS n FROM benchmark_results "
            "WHERE hardware = 'cpu' AND list_contains(?, model_type) GROUP BY ALL",
            [KILLED_MODELS],
        ).fetchall()
    by_model = {model_type: (run_id, n) for model_type, run_id, n in rows}
    assert len(rows) == len(by_model) == len(KILLED_MODELS), rows  # each partition stored by one run only
    for model_type, (run_id, _) in by_model.items():
        # what the killed run stored stays; the retry measured only the rest
        assert run_id == (killed_run.run_id if model_type in stored_before_kill else retry.run_id), rows


def _run(env: dict, run_id: str) -> dg.DagsterRun:
    return next(run for run in _runs(env) if run.run_id == run_id)


def _succeeded_retry(env: dict, parent: str) -> dg.DagsterRun | None:
    retries = [run for run in _runs(env) if run.tags.get("dagster/parent_run_id") == parent]
    return next((run for run in retries if run.status == dg.DagsterRunStatus.SUCCESS), None)
