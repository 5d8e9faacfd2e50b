"""Progress of long work for the logs: how much is done, the time spent, and when it should end.

Every long loop (a benchmark run's process slices, the skillset checks, the predictor's counts)
reports through one `Progress`, so that a user watching the Dagster run log sees the same
"12/45, 1m 10s elapsed, about 3m 05s left" everywhere. The estimate is the mean time per unit so
far times the units left: honest for units of similar cost, and it says "estimating" until one
unit is done rather than guessing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def duration(seconds: float) -> str:
    """`42s`, `3m 05s`, `1h 02m`: short, and never a fraction of a second."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class Progress:
    """`total` units of work started now; `step()` after each, `status()` for the line."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.clock = total, 0, clock
        self.started = clock()

    def step(self, units: int = 1) -> str:
        """Count `units` more done; the status line after them."""
        self.done += units
        return self.status()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float | None:
        """Seconds left at the pace so far; None before the first unit is done."""
        if self.done <= 0:
            return None
        return self.elapsed() / self.done * max(self.total - self.done, 0)

    def status(self) -> str:
        """E.g. `12/45, 1m 10s elapsed, about 3m 05s left`."""
        left = self.remaining()
        if self.done >= self.total:
            estimate = "done"
        elif left is None:
            estimate = "estimating the time left"
        else:
            estimate = f"about {duration(left)} left"
        return f"{self.done}/{self.total}, {duration(self.elapsed())} elapsed, {estimate}"


class ThrottledLog:
    """A `Progress` that logs its status at most every `every_s` seconds (and at the end), so a
    loop over thousands of quick units keeps the event log small while a slow one still shows life."""

    def __init__(self, total: int, log: Callable[[str], None] | None, label: str, every_s: float = 30.0, clock=None):
        self.progress = Progress(total, clock) if clock else Progress(total)
        self.log, self.label, self.every_s = log, label, every_s
        self.last = self.progress.started

    def step(self, units: int = 1) -> None:
        status = self.progress.step(units)
        now = self.progress.clock()
        finished = self.progress.done >= self.progress.total
        if self.log and (finished or now - self.last >= self.every_s):
            self.last = now
            self.log(f"{self.label} {status}")


class SliceProgress:
    """A benchmark run's process slices: `processes` planned per unit. A slice run again (after a host
    episode) or a process beyond the plan adds one to the total, so the count never passes it."""

    def __init__(self, units: int, processes: int, clock: Callable[[], float] = time.monotonic):
        self.progress = Progress(units * processes, clock)
        self.processes = processes
        self.started: set[tuple[str, int]] = set()

    def start(self, key: str, index: int) -> tuple[bool, str]:
        """Slice `index` of `key` starts: whether it is a re-run, and the status before it."""
        again = (key, index) in self.started
        if again or index >= self.processes:
            self.progress.total += 1
        self.started.add((key, index))
        status = self.progress.status()
        self.progress.step()
        return again, status
