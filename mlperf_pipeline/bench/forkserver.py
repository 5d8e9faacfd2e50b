"""A fork server: heavy imports paid once, a fresh forked process per benchmark.

Importing torch and transformers costs ~2 s a process, and a model's own modules another
1.5–3 s. The server imports them (imports only: any computation before a fork, even one matmul,
can deadlock the child in the OpenMP runtime), then forks one child per benchmark in ~30 ms.
A child is as fresh as a new interpreter for measuring purposes: no model was ever built in the
server. The server is not the Dagster step: it is its own process, started by the step.

Protocol (JSON lines): the client writes {"args", "log", "env", "memory_cap"}; the server forks,
answers {"pid"}, waits for the child and answers {"pid", "exit_code"} (negative: killed by that
signal, as in `subprocess`). One child at a time: the device lock serialises benchmarks anyway.

    python -m mlperf_pipeline.bench.forkserver MODEL_CLASS [MODEL_CLASS ...]
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT_S = 180.0


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _preload(model_classes: list[str]) -> None:
    import torch  # noqa: F401
    import transformers

    from mlperf_pipeline.bench import child, stop_rule, trackers  # noqa: F401
    from mlperf_pipeline.skillsets import runtime  # noqa: F401

    for name in model_classes:
        try:
            getattr(transformers, name)  # imports the model's module; builds nothing
        except Exception as error:  # the benchmark itself will report it properly
            print(f"preload of {name} failed: {error}", file=sys.stderr)


def _run_child(request: dict) -> None:
    """In the forked child: become a fresh, bounded process, run the benchmark, never return."""
    code = 1
    try:
        started = time.perf_counter()
        os.setsid()
        _die_with_parent()
        if request.get("memory_cap"):
            resource.setrlimit(resource.RLIMIT_AS, (request["memory_cap"], request["memory_cap"]))
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the server's request pipe is not ours to read
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        from mlperf_pipeline.bench import child

        code = child.main(request["args"], process_started=started)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def serve(model_classes: list[str]) -> None:
    _die_with_parent()
    started = time.perf_counter()
    _preload(model_classes)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "preload_s": time.perf_counter() - started}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        out.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(request)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"pid": pid, "exit_code": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """Client side, used by the bench runner in place of starting a new interpreter."""

    def __init__(self, model_classes: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlperf_pipeline.bench.forkserver", *model_classes],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.current_pid: int | None = None
        try:
            ready = self._read(STARTUP_TIMEOUT_S)
        except ValueError as error:  # something other than our protocol on its stdout
            ready = {"error": str(error)}
        if not ready or not ready.get("ready"):
            self.close()
            raise ForkServerError(f"fork server did not start (got {ready!r})")
        self.preload_s = ready["preload_s"]

    def _read(self, timeout_s: float) -> dict | None:
        readable, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not readable:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def launch(self, args: list[str], log_path: Path, env: dict[str, str], memory_cap_bytes: int | None) -> int:
        self.process.stdin.write(
            json.dumps({"args": args, "log": str(log_path), "env": env, "memory_cap": memory_cap_bytes}) + "\n"
        )
        self.process.stdin.flush()
        answer = self._read(30.0)
        if not answer or "pid" not in answer:
            raise ForkServerError(f"fork server did not start the benchmark (got {answer!r})")
        self.current_pid = answer["pid"]
        return self.current_pid

    def wait(self, pid: int, timeout_s: float) -> tuple[int, bool]:
        """(exit code, timed out). Sleeps in select(); on timeout the child's group is killed."""
        try:
            answer = self._read(timeout_s)
            timed_out = answer is None
            if timed_out:
                kill_group(pid)
                answer = self._read(30.0)
        except BaseException:
            kill_group(pid)  # the step is being stopped: take the benchmark down with it
            raise
        if not answer or answer.get("pid") != pid:
            kill_group(pid)
            raise ForkServerError(f"fork server lost track of benchmark process {pid} (got {answer!r})")
        self.current_pid = None
        return answer["exit_code"], timed_out

    def close(self) -> None:
        if self.current_pid:
            kill_group(self.current_pid)
        if self.alive:
            self.process.kill()
        self.process.wait()

    def __enter__(self) -> "ForkServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ForkServerPool:
    """Fork servers started on first use, one per OpenMP wait policy.

    The OpenMP runtime reads OMP_WAIT_POLICY once, when torch loads it, so a server's children all
    inherit the policy the server started with. If a server cannot start, benchmarks fall back to
    a new interpreter each (`get` returns None) and the reason is logged.
    """

    def __init__(self, environment_for, model_classes: list[str] | None = None, log=None):
        self.environment_for = environment_for  # policy -> environment for the server process
        self.model_classes = sorted(set(model_classes or []))
        self.log = log or logging.getLogger(__name__)
        self.servers: dict[str, ForkServer] = {}
        self.failed: set[str] = set()

    def get(self, omp_wait_policy: str) -> ForkServer | None:
        if omp_wait_policy not in self.servers and omp_wait_policy not in self.failed:
            try:
                self.servers[omp_wait_policy] = ForkServer(self.model_classes, self.environment_for(omp_wait_policy))
                self.log.info(
                    f"fork server ({omp_wait_policy}) up: imports preloaded in {self.servers[omp_wait_policy].preload_s:.1f} s"
                )
            except (ForkServerError, OSError) as error:
                self.failed.add(omp_wait_policy)
                self.log.warning(f"fork server unavailable, starting a new interpreter per benchmark: {error}")
        server = self.servers.get(omp_wait_policy)
        if server is not None and not server.alive:
            self.log.warning(
                f"fork server ({omp_wait_policy}) died; starting a new interpreter per benchmark from now on"
            )
            self.discard(omp_wait_policy)
            return None
        return server

    def discard(self, omp_wait_policy: str) -> None:
        """Stop using a server that failed; later benchmarks with that policy start a new interpreter."""
        server = self.servers.pop(omp_wait_policy, None)
        if server is not None:
            server.close()
        self.failed.add(omp_wait_policy)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()

    def __enter__(self) -> "ForkServerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    serve(sys.argv[1:])
