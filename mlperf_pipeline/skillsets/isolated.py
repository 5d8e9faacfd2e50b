"""Call a function on many items, each call in its own fresh process, a few at a time.

Building a model from a library config and running it once can segfault, hang or eat memory;
none of that may take down the caller (a Dagster step, a sweep script). Each call gets its own
forked process with a wall-clock deadline, its own process group (a timeout kills what it
started too), a parent-death signal and an address-space cap.

Processes come from a multiprocessing fork server by default: a new interpreter (never a fork of
the caller, which may hold threads and locks) that imports torch and transformers once, so each
call starts in milliseconds instead of paying ~2 s of imports. Scripts without threads may use
plain `fork` from an already-preloaded parent instead.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from multiprocessing.connection import wait

DEFAULT_PRELOAD = ("torch", "transformers", "mlperf_pipeline.skillsets.runtime")
_PR_SET_PDEATHSIG = 1


def failure(reason_code: str, reason: str) -> dict:
    return {"status": "failed", "reason_code": reason_code, "reason": reason}


def _bound_this_process(memory_cap_bytes: int | None) -> None:
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if memory_cap_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))


def _child(connection, function_name: tuple[str, str], search_path: list[str], item, memory_cap_bytes: int | None) -> None:
    _bound_this_process(memory_cap_bytes)
    try:
        result = _resolve(*function_name, search_path)(item)
    except BaseException as error:  # the function should classify its own errors; this is the backstop
        result = failure("crash", f"{type(error).__name__}: {error}"[:300])
    connection.send(result)
    connection.close()


def _resolve(module: str, qualname: str, search_path: list[str]):
    """The function by module and name. The fork server may not share the caller's import path
    (pytest's rootdir, a script's folder), so the caller's path comes along."""
    import importlib

    sys.path[:0] = [entry for entry in search_path if entry not in sys.path]
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


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
        start_method: str = "forkserver",
        preload: Iterable[str] = DEFAULT_PRELOAD,
        guard: Callable[[], AbstractContextManager] | None = None,
    ):
        """`guard`: entered while any child runs (e.g. the cpu device lock, so that checks never
        run beside a measurement)."""
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.context.set_forkserver_preload(list(preload))
        self.jobs, self.timeout_s, self.memory_cap_bytes = max(1, jobs), timeout_s, memory_cap_bytes
        self.running: dict = {}  # sentinel -> (process, connection, item, deadline)
        self.guard = guard or nullcontext

    def results(self, function: Callable[[object], dict], items: Iterable) -> Iterator[tuple[object, dict]]:
        """Call `function(item)` for every item; yield `(item, result)` as each call finishes.

        `function` must be importable by name (a module-level function) and return a dict. A child
        that dies without answering gives `crash`, one past its deadline `timeout`."""
        items = list(items)
        for index, result in self._indexed_results(function, items):
            yield items[index], result

    def map(self, function: Callable[[object], dict], items: Iterable) -> list[dict]:
        """Results in the order of `items`."""
        items = list(items)
        by_index = dict(self._indexed_results(function, items))
        return [by_index[index] for index in range(len(items))]

    def _indexed_results(self, function, items: list) -> Iterator[tuple[int, dict]]:
        pending = collections.deque(enumerate(items))
        if not pending:
            return
        try:
            with self.guard():
                while pending or self.running:
                    while pending and len(self.running) < self.jobs:
                        self._start(function, *pending.popleft())
                    for sentinel in wait(list(self.running), timeout=self._seconds_to_next_deadline()):
                        yield self._finish(sentinel)
                    for sentinel in self._overdue():
                        yield self._kill(sentinel, failure("timeout", f"no result within {self.timeout_s:.0f} s"))
        finally:
            for sentinel in list(self.running):  # the caller stopped early: leave nothing behind
                self._kill(sentinel, {})

    def _start(self, function, index: int, item) -> None:
        receiver, sender = self.context.Pipe(duplex=False)
        args = (sender, (function.__module__, function.__qualname__), list(sys.path), item, self.memory_cap_bytes)
        process = self.context.Process(target=_child, args=args, daemon=True)
        process.start()
        sender.close()
        self.running[process.sentinel] = (process, receiver, index, time.monotonic() + self.timeout_s)

    def _seconds_to_next_deadline(self) -> float:
        return max(0.0, min(deadline for *_, deadline in self.running.values()) - time.monotonic())

    def _overdue(self) -> list:
        now = time.monotonic()
        return [sentinel for sentinel, (*_, deadline) in self.running.items() if deadline <= now]

    def _finish(self, sentinel) -> tuple[object, dict]:
        process, receiver, item, _ = self.running.pop(sentinel)
        try:
            result = receiver.recv() if receiver.poll() else None
        except (EOFError, OSError):
            result = None
        process.join()
        receiver.close()
        if result is None:  # died without a word: segfault, abort, killed for memory
            result = failure("crash", f"process exited with code {process.exitcode} before answering")
        return item, result

    def _kill(self, sentinel, result: dict) -> tuple[object, dict]:
        process, receiver, item, _ = self.running.pop(sentinel)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.join()
        receiver.close()
        return item, result
