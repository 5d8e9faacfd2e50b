"""Runs whose process died (SIGKILL, a lost machine) stay STARTED forever in Dagster's storage.

Two checks find them, and mark them failed so that nothing waits on them (and, on a cluster,
`run_retries` launches them again):
- on one host: each benchmark step records its host and process id on its run; whoever starts
  next on that host, and `dead_run_sensor`, fail the runs of this host whose process is gone;
- on a cluster: a run sent through Celery carries its task id; `dead_run_sensor` asks every live
  worker which tasks it is running (Celery's own `inspect().active()`), and fails a started run
  whose task no worker has had for `grace_s` (when no worker answers at all, the broker may be
  away, and nothing is failed). Dagster's run monitoring sees a task that failed
  while its worker lived (a killed pool process); it cannot see a worker that died whole, whose
  task stays "started" in the result backend forever.
The device locks need no such care: the kernel frees them with the process.
"""

import socket
import time
from dataclasses import dataclass

import dagster as dg
import psutil
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

HOST_TAG = "mlperf/host"
PID_TAG = "mlperf/pid"
STARTED_TAG = "mlperf/pid_started"


def claim_run(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Record this process on the run, then fail this host's dead runs; returns their ids."""
    process = psutil.Process()
    instance.add_run_tags(
        run_id, {HOST_TAG: socket.gethostname(), PID_TAG: str(process.pid), STARTED_TAG: str(process.create_time())}
    )
    return mark_dead_runs_failed(instance, exclude=run_id)


def _process_alive(pid: int, started: float | None) -> bool:
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return False
    # A recycled pid belongs to a process created after ours was.
    return started is None or abs(process.create_time() - started) < 1.0


def mark_dead_runs_failed(instance: dg.DagsterInstance, exclude: str | None = None) -> list[str]:
    """Fail this host's runs whose process is gone; runs sent through Celery are left to
    `mark_lost_celery_runs_failed`, which sees every host."""
    host = socket.gethostname()
    runs = instance.get_runs(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: host})
    )
    dead = []
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if run.run_id == exclude or not pid or not pid.isdigit() or DAGSTER_CELERY_TASK_ID_TAG in run.tags:
            continue
        started = float(run.tags[STARTED_TAG]) if run.tags.get(STARTED_TAG) else None
        if not _process_alive(int(pid), started):
            instance.report_run_failed(
                run, f"run process {pid} on {host} is gone (killed?); marked failed by the next benchmark start"
            )
            dead.append(run.run_id)
    return dead


@dataclass(frozen=True)
class CeleryWorkers:
    """What the live Celery workers answered: who they are, and the tasks each is running."""

    hostnames: frozenset[str]
    active_tasks: frozenset[str]


def live_celery_workers(instance: dg.DagsterInstance, timeout_s: float = 3.0) -> CeleryWorkers | None:
    """The live workers (Celery's `inspect().active()`, answered by each worker's main process, so
    a busy one answers too); None when runs do not go through Celery, or when no worker answered
    at all (the broker may be away: nothing can be concluded then)."""
    launcher = instance.run_launcher
    if not isinstance(launcher, CeleryRunLauncher):
        return None
    replies = launcher.celery.control.inspect(timeout=timeout_s).active()
    if not replies:
        return None
    tasks = {task["id"] for running in replies.values() for task in running}
    return CeleryWorkers(frozenset(replies), frozenset(tasks))


def mark_lost_celery_runs_failed(
    instance: dg.DagsterInstance, workers: CeleryWorkers, missing_since: dict[str, float], grace_s: float
) -> tuple[list[str], dict[str, float]]:
    """Fail the started runs whose Celery task no live worker has run for `grace_s`. A task that
    ended normally has set its run's status before it ended, so a run still started then has lost
    its worker. (The worker's name is no proof of life: a node that restarts answers under the same
    one.) `missing_since` (run id -> when first seen missing) carries over between calls. Returns
    the runs failed and the updated `missing_since`."""
    now = time.time()
    started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    lost = {
        run.run_id: run
        for run in started
        if DAGSTER_CELERY_TASK_ID_TAG in run.tags and run.tags[DAGSTER_CELERY_TASK_ID_TAG] not in workers.active_tasks
    }
    failed = []
    for run_id, run in lost.items():
        since = missing_since.get(run_id, now)
        if now - since >= grace_s:
            instance.report_run_failed(
                run,
                f"no live Celery worker is running its task {run.tags[DAGSTER_CELERY_TASK_ID_TAG]} (for "
                f"{now - since:.0f} s, {len(workers.hostnames)} worker(s) answering): its worker died "
                f"(last on {run.tags.get(HOST_TAG, 'an unknown host')}, pid {run.tags.get(PID_TAG, '?')})",
            )
            failed.append(run_id)
    still_missing = {run_id: missing_since.get(run_id, now) for run_id in lost if run_id not in failed}
    return failed, still_missing
