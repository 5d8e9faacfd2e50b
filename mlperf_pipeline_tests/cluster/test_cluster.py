"""The cluster deployment for real, on loopback (`make test-cluster`; `make test` leaves it out):
PostgreSQL instance storage, Redis as the Celery broker, the Dagster daemon with the shipped
deploy/cluster/dagster.yaml, and two Celery workers of different hardware kinds (`cpu`, and `cuda`
on this host, whose rows are `skipped`: routing and storage are tested, not measurement)."""

import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml

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
        yield {"env": env, "home": home, "workers": workers, "logs": logs}
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
    results = read_current_results(cluster["home"] / "results.duckdb")
    cpu, cuda = results[results["hardware"] == "cpu"], results[results["hardware"] == "cuda"]
    assert set(cpu["model_type"]) == set(MODELS.split(",")) and (cpu["status"] != "skipped").all()
    assert set(cuda["model_type"]) == set(MODELS.split(",")) and (cuda["status"] == "skipped").all()
