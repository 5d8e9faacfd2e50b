"""Runs one benchmark request in its own process and turns whatever happens into result records.

- A fresh process per (hardware, model), so no state leaks between models: by default forked
  from a fork server that has only imported torch, transformers and the model modules
  (`bench/forkserver.py`, `launcher: fork_server` in `BenchSettings`), else a new interpreter
  (`launcher: interpreter`, no server given, or a server that died). Both are launchers of
  `mlperf_pipeline.isolation`, which also sets the child's bounds.
- Own process group and a parent-death signal: stopping the Dagster run stops the benchmark.
- A wall-clock timeout and an address-space cap; a crash, hang or out-of-memory becomes a
  `failed` record with a `reason_code`, never an exception in the pipeline.
- The parent blocks in the kernel while it waits (no polling loop), so it never competes for the
  measured cores.
- One benchmark per device at a time: `isolation.device.device_lock`, freed by the kernel if we die.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.request import DEFAULT_TIMEOUT_S, BenchRequest
from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.isolation.forkserver import ForkServerError
from mlperf_pipeline.isolation.launcher import ForkServerLauncher, InterpreterLauncher
from mlperf_pipeline.reasons import ReasonCode

__all__ = ["ChildOutcome", "child_environment", "run_concurrent", "run_isolated"]

log = logging.getLogger(__name__)

CHILD_ENTRY = "mlperf_pipeline.bench.child"
_EXIT_SIGNAL_REASONS = {
    signal.SIGSEGV: (ReasonCode.CRASH, "segmentation fault"),
    signal.SIGBUS: (ReasonCode.CRASH, "bus error"),
    signal.SIGABRT: (ReasonCode.CRASH, "aborted"),
    signal.SIGILL: (ReasonCode.CRASH, "illegal instruction"),
    signal.SIGFPE: (ReasonCode.CRASH, "floating point exception"),
    # The kernel's OOM killer sends SIGKILL; we only send it on timeout, which is classified first.
    signal.SIGKILL: (ReasonCode.OUT_OF_MEMORY, "killed by SIGKILL (the kernel's out-of-memory killer?)"),
}


def default_memory_cap_bytes() -> int:
    """Three quarters of physical memory, leaving room for the pipeline and the OS."""
    import psutil

    return int(psutil.virtual_memory().total * 0.75)


@dataclass
class ChildOutcome:
    records: list[dict]
    exit_code: int | None
    reason_code: ReasonCode | None = None
    reason: str | None = None
    wall_s: float = 0.0
    log_tail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.reason_code is None


# glibc's malloc adapts its thresholds to a process's history and hands freed blocks back to the
# kernel, so every call page-faults its buffers in again, by a different amount in each process:
# eight gpt2 processes showed 165 to 21,026 minor faults per call (96.7 to 118.6 ms medians). Pinned
# thresholds keep freed memory for reuse: 0 to 221 faults per call. Both are needed: a trim
# threshold alone also freezes the mmap threshold at 128 KiB (66,340 faults, ~170 ms).
PINNED_MALLOC_TUNABLES = {"glibc.malloc.trim_threshold": "1073741824", "glibc.malloc.mmap_threshold": "1073741824"}


def _with_pinned_malloc(tunables: str) -> str:
    """The caller's GLIBC_TUNABLES, plus each pinned malloc threshold it does not set itself."""
    own = {item.split("=", 1)[0] for item in tunables.split(":") if item}
    added = [f"{name}={value}" for name, value in PINNED_MALLOC_TUNABLES.items() if name not in own]
    return ":".join([tunables, *added] if tunables else added)


def child_environment(threads: int, omp_wait_policy: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = _with_pinned_malloc(env.get("GLIBC_TUNABLES", ""))
    # Transparent huge pages for torch's large CPU buffers (weights, activations). Without them
    # (this host's THP mode is `madvise`), fresh processes of one model landed on two levels: six
    # full-size bert processes at 151-154 or 185-192 ms (CV 11.6%); with them, 148-155 ms (CV 1.4%).
    # A value you set yourself wins.
    env.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    env.update(
        {
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": omp_wait_policy,
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "PYTHONUNBUFFERED": "1",
            # NVML and CUDA must agree on device indices.
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }
    )
    return env


def _read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            break
    return records


def _classify_exit(exit_code: int, log_tail: str) -> tuple[ReasonCode, str]:
    if exit_code < 0:
        code, text = _EXIT_SIGNAL_REASONS.get(-exit_code, (ReasonCode.CRASH, f"killed by signal {-exit_code}"))
        return code, f"benchmark process {text} (signal {-exit_code})"
    if "MemoryError" in log_tail or "out of memory" in log_tail.lower() or "std::bad_alloc" in log_tail:
        return ReasonCode.OUT_OF_MEMORY, f"benchmark process ran out of memory (exit code {exit_code})"
    last_line = log_tail.strip().splitlines()[-1] if log_tail.strip() else "no output"
    return ReasonCode.CRASH, f"benchmark process exited with code {exit_code}: {last_line[:300]}"


def _outcome(
    records: list[dict], exit_code: int, timed_out: bool, timeout_s: float, wall_s: float, log_tail: str, extra: dict
) -> ChildOutcome:
    outcome = ChildOutcome(records, exit_code, wall_s=wall_s, log_tail=log_tail, extra=extra)
    if timed_out:
        outcome.reason_code, outcome.reason = (
            ReasonCode.TIMEOUT,
            f"benchmark process exceeded its {timeout_s:.0f} s timeout and was killed",
        )
    elif exit_code != 0 or not any(record.get("kind") == "finished" for record in records):
        outcome.reason_code, outcome.reason = _classify_exit(exit_code, log_tail)
    return outcome


# Above this much foreign CPU use before a benchmark, OpenMP threads must not spin (DESIGN §5:
# a spinning 2-thread forward went 14x slower next to a busy process); below it, spinning is
# 10-25% faster and what peers measure.
PASSIVE_ABOVE_LOAD_PCT = 10.0
LOAD_PROBE_S = 0.1
WAIT_POLICIES = ("auto", "ACTIVE", "PASSIVE")


def choose_wait_policy(configured: str, load_before_pct: float) -> str:
    """`auto` picks ACTIVE on an idle host and PASSIVE under foreign load; the choice is recorded."""
    if configured not in WAIT_POLICIES:
        raise ValueError(f"omp_wait_policy must be one of {WAIT_POLICIES}, got {configured!r}")
    if configured != "auto":
        return configured
    return "PASSIVE" if load_before_pct > PASSIVE_ABOVE_LOAD_PCT else "ACTIVE"


def run_isolated(
    request: BenchRequest,
    *,
    lock_dir: Path | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_cap_bytes: int | None = None,
    omp_wait_policy: str = "auto",
    fork_servers: ForkServerPool | None = None,
    slot: int = 0,
) -> ChildOutcome:
    """Run `request` in a fresh process under the device lock; never raises for child failures.

    With `fork_servers`, the process is forked from a server (imports already paid) instead of a
    new interpreter; everything else (limits, classification, lock) is the same. `slot` picks one
    of several independent servers: the k processes of one configuration, forked from slots
    0..k-1, do not share one parent's memory layout.
    """
    from mlperf_pipeline.bench.trackers import system_busy_pct
    from mlperf_pipeline.hardware.detect import usable_cores

    threads = request.threads or usable_cores()
    with tempfile.TemporaryDirectory(prefix="mlperf-bench-") as work, device_lock(lock_dir, request.hardware):
        work_dir = Path(work)
        request_path, results_path, log_path = (
            work_dir / "request.json",
            work_dir / "results.jsonl",
            work_dir / "child.log",
        )
        request.save(request_path)
        # The load probe is part of this benchmark's own time (it decides the wait policy), paid
        # by each of a configuration's processes: 0.1 s (10 clock ticks on each core) tells 10%
        # foreign load from none.
        started = time.monotonic()
        load_before = system_busy_pct(LOAD_PROBE_S)
        policy = choose_wait_policy(omp_wait_policy, load_before)
        extra = {"threads": threads, "omp_wait_policy": policy, "load_before_pct": load_before}
        args, env = [str(request_path), str(results_path)], child_environment(threads, policy)
        # Starting a fork server is the run's cost, paid once for all of its benchmarks, not this one's.
        server_started = time.monotonic()
        fork_server = fork_servers.get(policy, slot) if fork_servers is not None else None
        started += time.monotonic() - server_started
        try:
            if fork_server is None:
                raise ForkServerError("no fork server")
            launcher = ForkServerLauncher(fork_server, CHILD_ENTRY)
            exit_code, timed_out = launcher.wait(launcher.start(args, log_path, env, memory_cap_bytes), timeout_s)
        except (ForkServerError, OSError) as error:
            if fork_server is not None:  # the server died or lost its child: stop using it
                log.warning("fork server failed (%s); this and later benchmarks start a new interpreter", error)
                fork_servers.discard(policy, slot)
                results_path.unlink(missing_ok=True)  # what a child killed with its server wrote is not this run's
            launcher = InterpreterLauncher(CHILD_ENTRY)
            exit_code, timed_out = launcher.wait(launcher.start(args, log_path, env, memory_cap_bytes), timeout_s)
        log_tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
        return _outcome(
            _read_records(results_path), exit_code, timed_out, timeout_s, time.monotonic() - started, log_tail, extra
        )


def run_concurrent(
    request: BenchRequest,
    workers: int,
    *,
    lock_dir: Path | None,
    duration_s: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_cap_bytes: int | None = None,
    omp_wait_policy: str = "auto",
) -> list[ChildOutcome]:
    """N worker processes on the first grid configuration, released together, each for `duration_s`.

    The cores are split between workers (at least one thread each); the memory cap is shared.
    Workers are new interpreters: they inherit the start barrier's pipes, which a fork server cannot pass on.
    """
    from mlperf_pipeline.bench.trackers import system_busy_pct
    from mlperf_pipeline.hardware.detect import usable_cores

    omp_wait_policy = choose_wait_policy(omp_wait_policy, system_busy_pct())
    threads = max(1, (request.threads or usable_cores()) // workers)
    worker_request = BenchRequest(**{**request.__dict__, "threads": threads})
    cap = memory_cap_bytes // workers if memory_cap_bytes else None
    with tempfile.TemporaryDirectory(prefix="mlperf-concurrent-") as work, device_lock(lock_dir, request.hardware):
        ready_read, ready_write = os.pipe()
        go_read, go_write = os.pipe()
        work_dir = Path(work)
        request_path = work_dir / "request.json"
        worker_request.save(request_path)
        env = child_environment(threads, omp_wait_policy)
        launcher = InterpreterLauncher(CHILD_ENTRY, pass_fds=(ready_write, go_read))
        children = []
        started = time.monotonic()
        try:
            for index in range(workers):
                args = [
                    str(request_path),
                    str(work_dir / f"worker{index}.jsonl"),
                    "--worker",
                    str(ready_write),
                    str(go_read),
                    str(duration_s),
                ]
                children.append(launcher.start(args, work_dir / f"worker{index}.log", env, cap))
            _release_when_ready(ready_read, go_write, workers, [child.process for child in children], timeout_s)
            waits = [launcher.wait(child, max(1.0, timeout_s - (time.monotonic() - started))) for child in children]
        finally:
            for fd in (ready_read, ready_write, go_read, go_write):
                os.close(fd)
            for child in children:
                launcher.kill(child)
        wall_s = time.monotonic() - started
        return [
            _outcome(
                _read_records(work_dir / f"worker{index}.jsonl"),
                exit_code,
                timed_out,
                timeout_s,
                wall_s,
                (work_dir / f"worker{index}.log").read_text(errors="replace")[-2000:],
                {"threads": threads, "omp_wait_policy": omp_wait_policy},
            )
            for index, (exit_code, timed_out) in enumerate(waits)
        ]


def _release_when_ready(ready_read: int, go_write: int, workers: int, processes: list, timeout_s: float) -> None:
    """Block until every worker has warmed up (or one died), then let them all go at once."""
    deadline = time.monotonic() + timeout_s
    ready = 0
    while ready < workers and time.monotonic() < deadline:
        readable, _, _ = select.select([ready_read], [], [], min(1.0, deadline - time.monotonic()))
        if readable:
            ready += len(os.read(ready_read, workers))
        elif any(process.poll() is not None for process in processes):
            break  # a worker died before it was ready: release the others so they finish
    os.write(go_write, b"g" * workers)
