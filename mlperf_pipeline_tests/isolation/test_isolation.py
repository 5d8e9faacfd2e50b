"""The isolation layer with real processes: file locks, process groups, fork-server slots, launcher timeouts."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from mlperf_pipeline.isolation.calls import IsolatedCalls, call_each
from mlperf_pipeline.isolation.forkserver import ForkServerPool
from mlperf_pipeline.isolation.launcher import ForkServerLauncher, InterpreterLauncher
from mlperf_pipeline.isolation.limits import bound_this_process, kill_group
from mlperf_pipeline.isolation.locks import file_lock
from mlperf_pipeline_tests.isolated_targets import misbehave
from mlperf_pipeline_tests.isolation import targets

TARGETS = targets.__name__

HOLD_THE_LOCK = """
import sys, time
from mlperf_pipeline.isolation.locks import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_the_file_lock_excludes_a_second_holder_and_is_freed_when_its_holder_is_killed(tmp_path):
    path = tmp_path / "device.lock"
    with file_lock(path):
        with pytest.raises(BlockingIOError), file_lock(path, blocking=False):
            pass  # a second open of the file conflicts, even in the same process
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BlockingIOError), file_lock(path, blocking=False):
            pass
        holder.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        holder.wait()
        with file_lock(path, blocking=False) as fd:
            assert fd >= 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_kill_group_kills_the_grandchildren_too():
    script = "import subprocess, time; print(subprocess.Popen(['sleep', '60']).pid, flush=True); time.sleep(60)"
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, preexec_fn=bound_this_process
    )
    grandchild = psutil.Process(int(child.stdout.readline()))
    assert os.getpgid(grandchild.pid) == child.pid  # its own group, which the grandchild joined
    kill_group(child.pid)
    assert child.wait(timeout=10) == -signal.SIGKILL
    psutil.wait_procs([grandchild], timeout=10)
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    child.stdout.close()


def test_each_slot_is_its_own_fork_server_started_on_first_use(tmp_path):
    with ForkServerPool(lambda variant: dict(os.environ), preload=[TARGETS], sys_path=sys.path) as pool:
        assert pool.servers == {}
        first = pool.get("PASSIVE")
        assert list(pool.servers) == [("PASSIVE", 0)]  # slot 1 not started until asked for
        second = pool.get("PASSIVE", slot=1)
        assert set(pool.servers) == {("PASSIVE", 0), ("PASSIVE", 1)} and pool.get("PASSIVE", 0) is first
        parents = []
        for slot, server in enumerate((first, second)):
            calls = call_each(
                ForkServerLauncher(server, "mlperf_pipeline.isolation.calls"),
                targets.parent_pid,
                [slot],
                jobs=1,
                timeout_s=30,
                memory_cap_bytes=None,
                work_dir=tmp_path,
            )
            (_, result), *_ = list(calls)
            parents.append(result["ppid"])
        assert parents == [first.process.pid, second.process.pid] and parents[0] != parents[1]


def test_start_preloads_the_slots_at_once_and_later_processes_reuse_them():
    with ForkServerPool(lambda variant: dict(os.environ), preload=[TARGETS], sys_path=sys.path, slots=2) as pool:
        pool.start("ACTIVE", 5)  # five processes, two slots: two servers
        assert set(pool.servers) == {("ACTIVE", 0), ("ACTIVE", 1)}
        servers = [pool.get("ACTIVE", slot) for slot in range(5)]
        assert all(server.alive and server.preload_s is not None for server in servers)
        assert servers[2] is servers[0] and servers[3] is servers[1] and servers[0] is not servers[1]
        time.sleep(0.5)  # started from the calling thread: nothing took them down when start() returned
        assert all(server.alive for server in servers)
        pool.discard("ACTIVE", 3)  # slot 3 is slot 1
        assert pool.get("ACTIVE", 1) is None and pool.get("ACTIVE", 0) is servers[0]
    with pytest.raises(ValueError, match="at least one slot"):
        ForkServerPool(lambda variant: dict(os.environ), preload=[], slots=0)


@pytest.mark.parametrize("kind", ["interpreter", "fork_server"])
def test_a_child_past_its_timeout_is_killed_and_reported_timed_out(tmp_path, kind):
    with ForkServerPool(lambda variant: dict(os.environ), preload=[TARGETS], sys_path=sys.path) as pool:
        launcher = (
            InterpreterLauncher(TARGETS) if kind == "interpreter" else ForkServerLauncher(pool.get("ACTIVE"), TARGETS)
        )
        quick = launcher.start(["0", "3"], tmp_path / "quick.log", dict(os.environ), None)
        assert launcher.wait(quick, 30) == (3, False)  # an exit code of its own comes back as it is
        started = time.monotonic()
        child = launcher.start(["60"], tmp_path / "slow.log", dict(os.environ), None)
        assert launcher.wait(child, 1.0) == (-signal.SIGKILL, True)
        assert time.monotonic() - started < 15
        assert not psutil.pid_exists(child.pid) or psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE


def test_isolated_calls_classify_each_call_and_a_dead_server():
    results = IsolatedCalls(jobs=2, timeout_s=3, preload=()).map(misbehave, ["fine", "segfault", "hang", "raise"])
    assert [r.get("reason_code") for r in results] == [None, "crash", "timeout", "crash"]
    assert "exited with code -11" in results[1]["reason"] and "ValueError: boom" in results[3]["reason"]
    results = IsolatedCalls(jobs=1, preload=()).map(targets.kill_the_server, ["first", "second"])
    assert [r["reason"] for r in results] == ["the check runner exited with code -9 before this call"] * 2
