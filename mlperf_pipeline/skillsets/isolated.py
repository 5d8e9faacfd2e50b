"""Call a function on many items, each call in its own fresh process, a few at a time.

Building a model from a library config and running it once can segfault, hang or eat memory;
none of that may take down the caller (a Dagster step, a sweep script). Each call gets its own
forked process with a wall-clock deadline, its own process group (a timeout kills what it
started too), a parent-death signal and an address-space cap.

By default the calls are forked from a small runner: a new interpreter (never a fork of the
caller, which may hold threads and locks) that imports torch, transformers and the given model
modules once, so each call starts in milliseconds instead of paying seconds of imports.
(multiprocessing's own fork server cannot serve here: in each child it re-runs the caller's main
script first, and under the `dagster` CLI that imports all of Dagster again, ~2 s a call.)

    python -m mlperf_pipeline.skillsets.isolated   # the runner: one JSON request on stdin
"""

from __future__ import annotations

import collections
import ctypes
import importlib
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from multiprocessing.connection import wait

DEFAULT_PRELOAD = ("torch", "transformers", "mlperf_pipeline.skillsets.runtime")
_PR_SET_PDEATHSIG = 1


def failure(reason_code: str, reason: str) -> dict:
    return {"status": "failed", "reason_code": reason_code, "reason": reason}


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _bound_this_process(memory_cap_bytes: int | None) -> None:
    os.setsid()
    _die_with_parent()
    if memory_cap_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))


def _child(connection, function: Callable[[object], dict], item, memory_cap_bytes: int | None) -> None:
    _bound_this_process(memory_cap_bytes)
    try:
        result = function(item)
    except BaseException as error:  # the function should classify its own errors; this is the backstop
        result = failure("crash", f"{type(error).__name__}: {error}"[:300])
    connection.send(result)
    connection.close()


def _resolve(module: str, qualname: str):
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def preload(modules: Iterable[str]) -> None:
    """Import modules (only import: computing before a fork can deadlock the child in OpenMP)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # the call that needs it meets and classifies the same error
            print(f"preload of {name} failed: {type(error).__name__}: {error}", file=sys.stderr)


def model_modules(model_classes) -> list[str]:
    """The transformers modules defining these classes, found without importing them (for preloading)."""
    import transformers

    where = getattr(transformers, "_class_to_module", {})
    return sorted({f"transformers.{where[name]}" for name in model_classes if name in where})


class IsolatedCalls:
    """At most `jobs` child processes at a time, each killed at its deadline."""

    def __init__(
        self,
        jobs: int = 2,
        timeout_s: float = 120.0,
        memory_cap_bytes: int | None = None,
        preload: Iterable[str] = DEFAULT_PRELOAD,
        guard: Callable[[], AbstractContextManager] | None = None,
    ):
        """`preload`: modules the runner imports before forking. `guard`: entered while any child
        runs (e.g. the cpu device lock, so that checks never run beside a measurement)."""
        self.preload = list(preload)
        self.jobs, self.timeout_s, self.memory_cap_bytes = max(1, jobs), timeout_s, memory_cap_bytes
        self.guard = guard or nullcontext

    def results(self, function: Callable[[object], dict], items: Iterable) -> Iterator[tuple[object, dict]]:
        """Call `function(item)` for every item; yield `(item, result)` as each call finishes.

        `function` must be a module-level function returning a dict; with the runner, items and
        results travel as JSON. A child that dies without answering gives `crash`, one past its
        deadline `timeout`."""
        items = list(items)
        for index, result in self._indexed_results(function, items):
            yield items[index], result

    def map(self, function: Callable[[object], dict], items: Iterable) -> list[dict]:
        """Results in the order of `items`."""
        items = list(items)
        by_index = dict(self._indexed_results(function, items))
        return [by_index[index] for index in range(len(items))]

    def _indexed_results(self, function, items: list) -> Iterator[tuple[int, dict]]:
        if not items:
            return
        with self.guard():
            yield from self._through_runner(function, items)

    def _through_runner(self, function, items: list) -> Iterator[tuple[int, dict]]:
        request = {
            "function": [function.__module__, function.__qualname__],
            "sys_path": sys.path,
            "preload": self.preload,
            "items": items,
            "jobs": self.jobs,
            "timeout_s": self.timeout_s,
            "memory_cap_bytes": self.memory_cap_bytes,
        }
        runner = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        try:
            runner.stdin.write(json.dumps(request) + "\n")
            runner.stdin.close()
            answered = set()
            for line in runner.stdout:
                index, result = json.loads(line)
                answered.add(index)
                yield index, result
            runner.wait()
            for index in sorted(set(range(len(items))) - answered):  # the runner itself died
                yield index, failure("crash", f"the check runner exited with code {runner.returncode} before this call")
        finally:
            if runner.poll() is None:  # the caller stopped early: leave nothing behind
                os.killpg(runner.pid, signal.SIGKILL)
                runner.wait()


class _ForkPool:
    """The runner's side: at most `jobs` forked children, each killed at its deadline."""

    def __init__(self, jobs: int, timeout_s: float, memory_cap_bytes: int | None):
        self.context = multiprocessing.get_context("fork")
        self.jobs, self.timeout_s, self.memory_cap_bytes = jobs, timeout_s, memory_cap_bytes
        self.running: dict = {}  # sentinel -> (process, connection, index, deadline)

    def run(self, function, items: list) -> Iterator[tuple[int, dict]]:
        pending = collections.deque(enumerate(items))
        try:
            while pending or self.running:
                while pending and len(self.running) < self.jobs:
                    self._start(function, *pending.popleft())
                for sentinel in wait(list(self.running), timeout=self._seconds_to_next_deadline()):
                    yield self._finish(sentinel)
                for sentinel in self._overdue():
                    yield self._kill(sentinel, failure("timeout", f"no result within {self.timeout_s:.0f} s"))
        finally:
            for sentinel in list(self.running):
                self._kill(sentinel, {})

    def _start(self, function, index: int, item) -> None:
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_child, args=(sender, function, item, self.memory_cap_bytes), daemon=True)
        process.start()
        sender.close()
        self.running[process.sentinel] = (process, receiver, index, time.monotonic() + self.timeout_s)

    def _seconds_to_next_deadline(self) -> float:
        return max(0.0, min(deadline for *_, deadline in self.running.values()) - time.monotonic())

    def _overdue(self) -> list:
        now = time.monotonic()
        return [sentinel for sentinel, (*_, deadline) in self.running.items() if deadline <= now]

    def _finish(self, sentinel) -> tuple[int, dict]:
        process, receiver, index, _ = self.running.pop(sentinel)
        try:
            result = receiver.recv() if receiver.poll() else None
        except (EOFError, OSError):
            result = None
        process.join()
        receiver.close()
        if result is None:  # died without a word: segfault, abort, killed for memory
            result = failure("crash", f"process exited with code {process.exitcode} before answering")
        return index, result

    def _kill(self, sentinel, result: dict) -> tuple[int, dict]:
        process, receiver, index, _ = self.running.pop(sentinel)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.join()
        receiver.close()
        return index, result


def _serve(request: dict) -> None:
    """The runner: preload, then fork one child per item, answering `[index, result]` lines."""
    sys.path[:0] = [entry for entry in request["sys_path"] if entry not in sys.path]
    preload(request["preload"])
    function = _resolve(*request["function"])
    pool = _ForkPool(request["jobs"], request["timeout_s"], request["memory_cap_bytes"])
    for index, result in pool.run(function, request["items"]):
        print(json.dumps([index, result], default=str), flush=True)


if __name__ == "__main__":
    _serve(json.loads(sys.stdin.readline()))
