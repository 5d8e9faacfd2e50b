"""How an isolated child is started, waited for and killed: one interface, two ways, room for more.

Every child runs an entry module's `main(argv, process_started=None) -> int` under the bounds of
`limits.bound_this_process` (own process group, parent-death signal, address-space cap), with its
output in a log file. `InterpreterLauncher` starts a new Python for it (`python -m entry`);
`ForkServerLauncher` forks it from a fork server that already paid the imports. A cluster launcher
(a pod, a Celery task) would be a third implementation of the same four methods.

Waiting blocks in the kernel (a pidfd or the fork server's pipe in poll/select), never in a
polling loop: the parent must not compete with the measured process for its cores.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlperf_pipeline.isolation.forkserver import ForkServer
from mlperf_pipeline.isolation.limits import bound_this_process, kill_group


@dataclass(eq=False)
class Child:
    """A started child; compared and hashed by identity. `process` is set by the interpreter launcher."""

    pid: int
    process: subprocess.Popen | None = None


class Launcher(Protocol):
    def start(self, args: list[str], log_path: Path | None, env: dict[str, str], memory_cap_bytes: int | None) -> Child:
        """Start the entry point with `args`; `log_path` receives stdout and stderr (None: the caller's stderr)."""

    def wait(self, child: Child, timeout_s: float) -> tuple[int, bool]:
        """(exit code, timed out): sleep until the child exits, or kill its group at the timeout.

        The exit code is negative when a signal ended it. If the caller is interrupted while it
        waits (the run is being stopped), the child's group is killed before the exception goes on.
        """

    def wait_any(self, children: Collection[Child], timeout_s: float | None) -> dict[Child, int]:
        """Exit codes of those children that have exited, after sleeping until one does (at most
        `timeout_s`, None: no limit); {} at the timeout. Nothing is killed."""

    def kill(self, child: Child) -> None:
        """Kill the child's process group unless it has exited, and reap it."""


class InterpreterLauncher:
    """A new interpreter per child: `python -m <entry> args...`, bounded between fork and exec."""

    def __init__(self, entry: str, pass_fds: tuple[int, ...] = ()):
        """`pass_fds`: descriptors every child inherits (the concurrent workers' start barrier)."""
        self.entry, self.pass_fds = entry, pass_fds

    def start(self, args: list[str], log_path: Path | None, env: dict[str, str], memory_cap_bytes: int | None) -> Child:
        with open(log_path, "w") if log_path is not None else contextlib.nullcontext() as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", self.entry, *args],
                stdout=log_file,
                stderr=subprocess.STDOUT if log_file is not None else None,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=functools.partial(bound_this_process, memory_cap_bytes),
                pass_fds=self.pass_fds,
            )
        return Child(process.pid, process)

    def wait_any(self, children: Collection[Child], timeout_s: float | None) -> dict[Child, int]:
        if not (done := _exited(children)):
            _sleep_until_one_exits(children, timeout_s)
            done = _exited(children)
        return done

    def wait(self, child: Child, timeout_s: float) -> tuple[int, bool]:
        try:
            if self.wait_any([child], timeout_s):
                return child.process.wait(), False
            kill_group(child.pid)
            return child.process.wait(), True
        except BaseException:
            # The step itself is being stopped (run terminated): take the child down with it.
            self.kill(child)
            raise

    def kill(self, child: Child) -> None:
        if child.process.poll() is None:
            kill_group(child.pid)
            child.process.wait()


def _exited(children: Collection[Child]) -> dict[Child, int]:
    return {child: child.process.returncode for child in children if child.process.poll() is not None}


def _sleep_until_one_exits(children: Collection[Child], timeout_s: float | None) -> None:
    """Sleep in poll() on the children's pidfds until one exits or the timeout passes."""
    pidfds = []
    try:
        try:
            pidfds = [os.pidfd_open(child.pid) for child in children]
        except ProcessLookupError:  # one has been reaped meanwhile: it has exited
            return
        except (AttributeError, OSError):  # not Linux >= 5.3: check gently, as Popen.wait does
            _check_gently(children, timeout_s)
            return
        poller = select.poll()
        for pidfd in pidfds:
            poller.register(pidfd, select.POLLIN)
        poller.poll(None if timeout_s is None else max(0.0, timeout_s) * 1000)
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


def _check_gently(children: Collection[Child], timeout_s: float | None) -> None:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.0005
    while not any(child.process.poll() is not None for child in children):
        if deadline is not None and time.monotonic() >= deadline:
            return
        time.sleep(delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.05)


class ForkServerLauncher:
    """Children forked from `server` (imports already paid), each running `entry.main(args)`.

    Raises `ForkServerError` when the server cannot start a child or loses one (it died): the
    caller decides whether to fall back to a new interpreter.
    """

    def __init__(self, server: ForkServer, entry: str):
        self.server, self.entry = server, entry

    def start(self, args: list[str], log_path: Path | None, env: dict[str, str], memory_cap_bytes: int | None) -> Child:
        return Child(self.server.launch(self.entry, args, log_path, env, memory_cap_bytes))

    def wait_any(self, children: Collection[Child], timeout_s: float | None) -> dict[Child, int]:
        by_pid = {child.pid: child for child in children}
        return {by_pid[pid]: code for pid, code in self.server.wait_any(by_pid, timeout_s).items()}

    def wait(self, child: Child, timeout_s: float) -> tuple[int, bool]:
        return self.server.wait(child.pid, timeout_s)

    def kill(self, child: Child) -> None:
        self.server.kill(child.pid)
