"""When to stop timing a model, and whether the numbers can be trusted.

The rule, with the defaults of `StopRule`:

`max_seconds` (10 s here; the pipeline's default is 5 s) is the time per configuration, warm-up
and sampling together, so a configuration's cost is known before it starts. A caller that timed
the first call itself passes `started` (the clock before that call): the first call is warm-up too,
and counts against the same budget.

1. Warm-up. Call the model, discarding the latencies from the results, until latency stops
   falling: the median of the last `warmup_window` (5) calls is no more than
   `warmup_tolerance_pct` (5%) below the median of the 5 calls before them, and at least
   `min_warmup` (2) calls were made. Warming up only ever makes calls faster, so a window that
   is slower than the one before is noise on a shared host, not more warm-up to wait for. Warm-up also ends after
   `max_warmup_seconds` (3 s) or half of `max_seconds`, whichever is sooner, but never before one
   call. The number of warm-up calls is recorded as `warmup_n`.
2. Sampling. Keep calling and keep every latency until the distribution-free 95% confidence
   interval of the median (order statistics, see `stats.median_ci`) has a half-width of at most
   `target_ci_pct` (±2%) of the median. The interval is checked once there are `min_samples`
   (10) samples, then after every ~5% more samples, so the check costs next to nothing per call.
   Sampling also stops when warm-up and sampling together reach `max_seconds`, or after
   `max_samples` (2000) samples, and always takes at least one sample. A slow model goes on past
   `max_seconds` until it has `min_calls` samples (5 in each process of a multi-process
   measurement, 1 otherwise), but never past `max_seconds × slow_cap_factor` (3).
3. Verdict.
   - `ok`: the median's interval met the target.
   - `invalid`, `too_noisy`: a cap came first and the interval is wider than the target; the
     reason says how wide, e.g. "median 95% CI ±3.4% after 41 samples in 10.0 s, target ±2.0%".
   - `invalid`, `too_few_samples`: a cap came first with too few samples for any interval
     (fewer than 6), e.g. when one call takes longer than the time cap.

The caller times each call itself (CUDA events on a GPU, `perf_counter_ns` on a CPU) and passes a
function returning that latency in milliseconds; the caps are measured with `clock`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, fields
from typing import Callable, Literal

from mlperf_pipeline.bench import stats
from mlperf_pipeline.reasons import ReasonCode, Status

CONFIDENCE = 0.95
# Re-check the CI after this fraction more samples: the check sorts all samples, so doing it
# geometrically keeps its total cost near-linear while overshooting the target by at most ~5%.
CHECK_GROWTH = 0.05

_INT_FIELDS = ("min_warmup", "warmup_window", "min_samples", "max_samples", "min_calls")


@dataclass(frozen=True)
class StopRule:
    target_ci_pct: float = 2.0
    max_seconds: float = 10.0
    max_warmup_seconds: float = 3.0
    min_warmup: int = 2
    warmup_window: int = 5
    warmup_tolerance_pct: float = 5.0
    min_samples: int = 10
    max_samples: int = 2000
    # Slow models: sampling goes past `max_seconds` until `min_calls` samples are in, but never past
    # `max_seconds × slow_cap_factor` (the documented bound of one configuration in one process).
    min_calls: int = 1
    slow_cap_factor: float = 3.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            allowed = int if item.name in _INT_FIELDS else (int, float)
            if isinstance(value, bool) or not isinstance(value, allowed):
                kind = "an integer" if allowed is int else "a number"
                raise ValueError(f"StopRule.{item.name} must be {kind}, got {value!r}")
            # `not value > 0` also rejects NaN.
            if not value > 0 or math.isinf(value):
                raise ValueError(f"StopRule.{item.name} must be positive and finite, got {value!r}")
        if self.max_samples < self.min_samples:
            raise ValueError(f"StopRule.max_samples ({self.max_samples}) must be >= min_samples ({self.min_samples})")
        if self.max_samples < self.min_calls:
            raise ValueError(f"StopRule.max_samples ({self.max_samples}) must be >= min_calls ({self.min_calls})")
        if self.slow_cap_factor < 1:
            raise ValueError(f"StopRule.slow_cap_factor must be at least 1, got {self.slow_cap_factor!r}")


# The verdicts the stop rule can give (a subset of `reasons`).
Verdict = Literal[Status.OK, Status.INVALID]
VerdictReason = Literal[ReasonCode.TOO_NOISY, ReasonCode.TOO_FEW_SAMPLES]


@dataclass
class Measurement:
    samples_ms: list[float]
    warmup_ms: list[float]
    warmup_n: int
    elapsed_s: float  # sampling phase only; the time the reason refers to
    status: Verdict
    reason_code: VerdictReason | None = None
    reason: str | None = None
    warmup_s: float = 0.0  # the warm-up phase's own duration

    def summary(self) -> dict[str, float | int | None]:
        return stats.summarize(self.samples_ms) | {"warmup_n": self.warmup_n}


def _checked_latency(timed_call: Callable[[], float]) -> float:
    latency = float(timed_call())
    if not math.isfinite(latency) or latency < 0:
        raise ValueError(f"timed_call returned an impossible latency: {latency!r} ms")
    return latency


def _warmup_is_stable(latencies: list[float], rule: StopRule) -> bool:
    window = rule.warmup_window
    if len(latencies) < max(rule.min_warmup, 2 * window):
        return False
    recent = statistics.median(latencies[-window:])
    before = statistics.median(latencies[-2 * window : -window])
    return recent >= before * (1.0 - rule.warmup_tolerance_pct / 100.0)


def _warm_up(timed_call: Callable[[], float], rule: StopRule, clock: Callable[[], float], start: float) -> list[float]:
    latencies: list[float] = []
    cap_s = min(rule.max_warmup_seconds, rule.max_seconds / 2)  # leave sampling at least half the budget
    while True:
        latencies.append(_checked_latency(timed_call))
        if _warmup_is_stable(latencies, rule) or clock() - start >= cap_s:
            return latencies


def _sample(
    timed_call: Callable[[], float], rule: StopRule, clock: Callable[[], float], budget_s: float
) -> tuple[list[float], float]:
    """Sample until the target is met or a cap is hit; returns (samples, elapsed seconds)."""
    slow_cap_s = budget_s + rule.max_seconds * (rule.slow_cap_factor - 1.0)
    samples: list[float] = []
    next_check = rule.min_samples
    start = clock()
    while True:
        samples.append(_checked_latency(timed_call))
        n = len(samples)
        if n >= next_check:
            half_width = stats.ci_half_width_pct(samples)
            if half_width is not None and half_width <= rule.target_ci_pct:
                return samples, clock() - start
            next_check = n + max(1, int(n * CHECK_GROWTH))
        elapsed = clock() - start
        if n >= rule.max_samples or elapsed >= budget_s and (n >= rule.min_calls or elapsed >= slow_cap_s):
            return samples, elapsed


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _verdict(
    samples: list[float], elapsed_s: float, rule: StopRule
) -> tuple[Verdict, VerdictReason | None, str | None]:
    # Judged on all samples: the target may have been met between two periodic checks.
    half_width = stats.ci_half_width_pct(samples)
    n = len(samples)
    if half_width is None:
        needed = stats.min_samples_for_quantile(0.5, CONFIDENCE)
        return (
            Status.INVALID,
            ReasonCode.TOO_FEW_SAMPLES,
            (
                f"no {CONFIDENCE:.0%} CI for the median: {_count(n, 'sample')} in {elapsed_s:.1f} s, "
                f"at least {needed} needed"
            ),
        )
    if half_width <= rule.target_ci_pct:
        return Status.OK, None, None
    return (
        Status.INVALID,
        ReasonCode.TOO_NOISY,
        (
            f"median {CONFIDENCE:.0%} CI ±{half_width:.1f}% after {_count(n, 'sample')} in {elapsed_s:.1f} s, "
            f"target ±{rule.target_ci_pct:.1f}%"
        ),
    )


def measure(
    timed_call: Callable[[], float],
    rule: StopRule = StopRule(),
    clock: Callable[[], float] = time.perf_counter,
    started: float | None = None,
) -> Measurement:
    """Warm up, then sample `timed_call` (one iteration, returns its latency in ms) per the rule.

    `started`: the `clock` reading at which the configuration's time began, when the caller made
    calls of its own before (the first call, recorded apart); the warm-up cap and `max_seconds`
    count from it. `warmup_n` counts only the warm-up calls made here."""
    warmup_start = clock() if started is None else started
    warmup = _warm_up(timed_call, rule, clock, warmup_start)
    warmup_s = clock() - warmup_start
    samples, elapsed_s = _sample(timed_call, rule, clock, budget_s=rule.max_seconds - warmup_s)
    status, reason_code, reason = _verdict(samples, elapsed_s, rule)
    return Measurement(
        samples_ms=samples,
        warmup_ms=warmup,
        warmup_n=len(warmup),
        elapsed_s=elapsed_s,
        status=status,
        reason_code=reason_code,
        reason=reason,
        warmup_s=warmup_s,
    )


# A process of a multi-process measurement contributes its median: a few calls estimate it well
# enough when the call is slow, so slow models still get a verdict (see `StopRule.min_calls`).
MIN_CALLS_PER_PROCESS = 5


# In a multi-process measurement a process stops early once its own median is this precise; the
# run's `target_ci_pct` applies to the interval over the processes (`bench/levels.py`).
WITHIN_PROCESS_TARGET_PCT = 2.0


def stop_rule_for(request) -> StopRule:
    """The rule a benchmark process applies to each configuration of `request` (a `BenchRequest`).

    `max_seconds_per_config` bounds a configuration, not a process: its first `processes`
    processes share it (so 5 s over 3 processes gives each 1.67 s of warm-up and sampling), and
    each process added because the interval is still too wide takes one more share. A
    configuration's processes together therefore spend at most `max_seconds_per_config ×
    process_cap / processes` timing it, times `slow_cap_factor` for a model too slow for
    `min_calls` calls in its share. What one process adds to its median's precision matters little
    once the spread between processes dominates (`bench/levels.py`): a share spent on another
    process in another host state is worth more."""
    if request.processes == 1:  # the single-process method: its own interval is the verdict
        return StopRule(target_ci_pct=request.target_ci_pct, max_seconds=request.max_seconds_per_config)
    return StopRule(
        target_ci_pct=WITHIN_PROCESS_TARGET_PCT,
        max_seconds=request.max_seconds_per_config / request.processes,
        min_calls=MIN_CALLS_PER_PROCESS,
    )
