"""Turn-taking between two measuring processes, so they share one timeline on a drifting host.

On a shared machine the true latency of a model drifts by tens of percent over tens of seconds.
Two tools measured one after the other then disagree by the drift, not by any fault of theirs.
When each holds a token for a short slice of calls and hands it over, both sample the same
stretch of time, and drift slower than a slice falls on both alike (the A/B interleaving that
comparisons of two builds use).

The token travels over two named pipes: a holder measures until its slice is used up, writes
`TOKEN` to the peer's pipe and blocks (no CPU) reading its own. Whoever coordinates the pair
writes `DONE` to a waiting process's pipe to tell it the comparison is over. The gate is checked
before a call, never inside the timed region.

A benchmark child takes part when `TURNS_ENV` is set to `WAIT_FIFO:PASS_FIFO:SLICE_S`
(`benchmarks/agreement.py` does this); the pipeline never sets it.
"""

from __future__ import annotations

import math
import os
import statistics
import time

TURNS_ENV = "MLPERF_PIPELINE_TURNS"
TOKEN, DONE = b"t", b"d"


class TurnGate:
    def __init__(self, wait_fifo: str, pass_fifo: str, slice_s: float, clock=time.perf_counter):
        if not slice_s > 0:
            raise ValueError(f"turn slice must be positive seconds, got {slice_s!r}")
        # O_RDWR never blocks on open (a FIFO opened for reading or writing alone waits for a peer).
        self.wait_fd, self.pass_fd = os.open(wait_fifo, os.O_RDWR), os.open(pass_fifo, os.O_RDWR)
        self.slice_s, self.clock = slice_s, clock
        self.holding, self.slice_started, self.turns = False, 0.0, 0
        self.just_acquired = False
        self.call_turns: list[int] = []  # the turn each timed call ran in, so a peer's turns can be paired with ours

    @classmethod
    def from_environment(cls, environ=os.environ) -> "TurnGate | None":
        value = environ.get(TURNS_ENV)
        if not value:
            return None
        try:
            wait_fifo, pass_fifo, slice_s = value.rsplit(":", 2)
            return cls(wait_fifo, pass_fifo, float(slice_s))
        except (ValueError, OSError) as error:
            raise ValueError(
                f"{TURNS_ENV} must be WAIT_FIFO:PASS_FIFO:SLICE_S with existing pipes, got {value!r}: {error}"
            ) from error

    def restart_slice(self) -> None:
        self.slice_started = self.clock()

    def hand_over(self) -> None:
        os.write(self.pass_fd, TOKEN)
        self.holding = False

    def before_call(self) -> bool:
        """Block until it is this process's turn; False once told the comparison is over."""
        if self.holding and self.clock() - self.slice_started < self.slice_s:
            self.just_acquired = False
            return True
        if self.holding:
            self.hand_over()
        message = os.read(self.wait_fd, 1)
        if message != TOKEN:
            return False
        self.holding, self.just_acquired = True, True
        self.turns += 1
        self.slice_started = self.clock()
        return True


def gated(timed_call, gate: TurnGate | None, rewarm):
    """`timed_call`, waiting for this process's turn before each use; unchanged without a gate.

    The first call after a hand-over runs on caches the other process evicted and wakes sleeping
    workers: 3-6% slower for bert-base here. `rewarm` (an untimed call) absorbs it, as
    `torch.utils.benchmark`'s block-size estimate does at the start of each of its blocks.
    """
    if gate is None:
        return timed_call

    def wait_then_call():
        gate.before_call()
        if gate.just_acquired:
            rewarm()
            gate.restart_slice()  # the slice is for timed calls, as a blocked_autorange block is
        gate.call_turns.append(gate.turns)
        return timed_call()

    return wait_then_call


def paired_turn_ratios(sample_turns: list[int], samples_ms: list[float], peer_turn_times_ms: list) -> list[float]:
    """For each of our turns, its median over the geometric mean of the peer's turns just before
    and just after it: drift slower than a few turns cancels in each ratio, a linear trend too.

    `peer_turn_times_ms` holds `[turn, [times...]]`; our turn k runs between the peer's turns k-1
    and k (we start, the peer answers). Turns without a neighbour on both sides are left out.
    """
    ours_by_turn: dict[int, list[float]] = {}
    for turn, sample in zip(sample_turns, samples_ms, strict=True):
        ours_by_turn.setdefault(turn, []).append(sample)
    peer = {turn: statistics.median(times) for turn, times in peer_turn_times_ms if times}
    return [
        statistics.median(samples) / math.sqrt(peer[turn - 1] * peer[turn])
        for turn, samples in sorted(ours_by_turn.items())
        if turn - 1 in peer and turn in peer
    ]
