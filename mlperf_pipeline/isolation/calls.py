"""Call a function on many items, each call in its own fresh process, a few at a time.

Building a model from a library config and running it once can segfault, hang or eat memory;
none of that may take down the caller (a Dagster step, a sweep script). Each call is a child of a
fork server (`forkserver.ForkServer`: a new interpreter, never a fork of the caller, which may
hold threads and locks) that imported the given modules once, so each call starts in milliseconds
instead of paying seconds of imports; it runs under the bounds of every isolated child
(`limits`) and a wall-clock deadline. A call that raises, dies without answering or passes its
deadline becomes a `failed` result (`crash` or `timeout`) and the other calls carry on.

Items and results travel as JSON files in a temporary folder: `python -m
mlperf_pipeline.isolation.calls CALL.json RESULT.json` is the child's entry point.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from mlperf_pipeline.isolation.forkserver import ForkServer, ForkServerError
from mlperf_pipeline.isolation.launcher import Child, ForkServerLauncher, Launcher
from mlperf_pipeline.reasons import ReasonCode, Status


def failure(reason_code: str, reason: str) -> dict:
    return {"status": Status.FAILED, "reason_code": reason_code, "reason": reason}


class IsolatedCalls:
    """At most `jobs` child processes at a time, each killed at its deadline."""

    def __init__(
        self,
        jobs: int = 2,
        timeout_s: float = 120.0,
        memory_cap_bytes: int | None = None,
        preload: Iterable[str] = (),
        guard: Callable[[], AbstractContextManager] | None = None,
        env: dict[str, str] | None = None,
    ):
        """`preload`: modules the fork server imports before forking. `guard`: entered while any child
        runs (e.g. the cpu device lock, so that checks never run beside a measurement). `env`: the
        fork server's environment, which its children inherit (default: this process's)."""
        self.env = env
        self.preload = list(preload)
        self.jobs, self.timeout_s, self.memory_cap_bytes = max(1, jobs), timeout_s, memory_cap_bytes
        self.guard = guard or nullcontext

    def results(self, function: Callable[[object], dict], items: Iterable) -> Iterator[tuple[object, dict]]:
        """Call `function(item)` for every item; yield `(item, result)` as each call finishes.

        `function` must be a module-level function returning a dict; items and results travel as
        JSON. A child that dies without answering gives `crash`, one past its deadline `timeout`."""
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
        with self.guard(), tempfile.TemporaryDirectory(prefix="mlperf-calls-") as work:
            answered = set()
            try:
                # No startup limit: preloading every model module of transformers takes minutes.
                env = dict(os.environ) if self.env is None else self.env
                with ForkServer([*self.preload, function.__module__], env, sys.path, startup_timeout_s=None) as server:
                    calls = call_each(
                        ForkServerLauncher(server, __name__),
                        function,
                        items,
                        jobs=self.jobs,
                        timeout_s=self.timeout_s,
                        memory_cap_bytes=self.memory_cap_bytes,
                        work_dir=Path(work),
                        env=env,
                    )
                    for index, result in calls:
                        answered.add(index)
                        yield index, result
            except ForkServerError as error:  # the server itself died: the calls it still owed fail
                reason = f"the check runner exited with code {error.exit_code} before this call"
                for index in sorted(set(range(len(items))) - answered):
                    yield index, failure(ReasonCode.CRASH, reason)


def call_each(
    launcher: Launcher,
    function: Callable[[object], dict],
    items: list,
    *,
    jobs: int,
    timeout_s: float,
    memory_cap_bytes: int | None,
    work_dir: Path,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[int, dict]]:
    """`(index, result)` for each item as its call ends, at most `jobs` children at a time.

    The caller sleeps in the launcher's `wait_any` until a child exits or the nearest deadline
    passes. Stopping early (closing the iterator) kills the children still running.
    """
    env = dict(os.environ) if env is None else env
    pending = collections.deque(enumerate(items))
    running: dict[Child, tuple[int, float]] = {}  # child -> (index, deadline)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, item = pending.popleft()
                child = _start(launcher, function, index, item, env, memory_cap_bytes, work_dir)
                running[child] = (index, time.monotonic() + timeout_s)
            next_deadline = min(deadline for _, deadline in running.values())
            for child, exit_code in launcher.wait_any(
                list(running), max(0.0, next_deadline - time.monotonic())
            ).items():
                index, _ = running.pop(child)
                yield index, _answer(work_dir, index, exit_code)
            now = time.monotonic()
            for child in [child for child, (_, deadline) in running.items() if deadline <= now]:
                index, _ = running.pop(child)
                launcher.kill(child)
                yield index, failure(ReasonCode.TIMEOUT, f"no result within {timeout_s:.0f} s")
    finally:
        for child in running:
            launcher.kill(child)


def _start(launcher: Launcher, function, index: int, item, env, memory_cap_bytes, work_dir: Path) -> Child:
    call = {"function": [function.__module__, function.__qualname__], "item": item, "sys_path": sys.path}
    call_path = work_dir / f"{index}.call.json"
    call_path.write_text(json.dumps(call))
    # Output stays the caller's stderr (log None), as it was when calls were forked from its runner.
    return launcher.start([str(call_path), str(_result_path(work_dir, index))], None, env, memory_cap_bytes)


def _result_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"{index}.result.json"


def _answer(work_dir: Path, index: int, exit_code: int) -> dict:
    try:
        return json.loads(_result_path(work_dir, index).read_text())
    except (FileNotFoundError, ValueError):  # died without a word: segfault, abort, killed for memory
        return failure(ReasonCode.CRASH, f"process exited with code {exit_code} before answering")


def _resolve(module: str, qualname: str):
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def main(argv: list[str], process_started: float | None = None) -> int:
    """In the child: call the function on the item and write its result (or why it raised)."""
    call = json.loads(Path(argv[0]).read_text())
    sys.path[:0] = [entry for entry in call["sys_path"] if entry not in sys.path]
    try:
        result = _resolve(*call["function"])(call["item"])
    except BaseException as error:  # the function should classify its own errors; this is the backstop
        result = failure(ReasonCode.CRASH, f"{type(error).__name__}: {error}"[:300])
    written = Path(argv[1] + ".tmp")
    written.write_text(json.dumps(result, default=str))
    os.replace(written, argv[1])  # whole or absent: a child killed mid-write gives `crash`, not half a result
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
