"""Runs whose process died (SIGKILL, a lost machine) stay STARTED forever in Dagster's storage.

Each benchmark step records its host and process id on its run; whoever starts next on that host
marks runs whose process is gone as failed, so nothing waits on them. The device locks need no
such care: the kernel frees them with the process.
"""

import socket

import dagster as dg
import psutil

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
    host = socket.gethostname()
    runs = instance.get_runs(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: host})
    )
    dead = []
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if run.run_id == exclude or not pid or not pid.isdigit():
            continue
        started = float(run.tags[STARTED_TAG]) if run.tags.get(STARTED_TAG) else None
        if not _process_alive(int(pid), started):
            instance.report_run_failed(
                run, f"run process {pid} on {host} is gone (killed?); marked failed by the next benchmark start"
            )
            dead.append(run.run_id)
    return dead
