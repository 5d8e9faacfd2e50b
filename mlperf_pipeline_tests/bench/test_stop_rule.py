import re
import time
from typing import Iterable

import numpy as np
import pytest

from mlperf_pipeline.bench import stats
from mlperf_pipeline.bench.stop_rule import Measurement, StopRule, measure


class FakeModel:
    """A timed call whose latencies come from a list, on a clock that advances by each latency."""

    def __init__(self, latencies_ms: Iterable[float]):
        self._latencies = iter(latencies_ms)
        self.now_s = 0.0
        self.calls = 0

    def clock(self) -> float:
        return self.now_s

    def timed_call(self) -> float:
        latency = float(next(self._latencies))
        self.now_s += latency / 1000.0
        self.calls += 1
        return latency


def run(latencies_ms: Iterable[float], rule: StopRule = StopRule()) -> tuple[Measurement, FakeModel]:
    model = FakeModel(latencies_ms)
    return measure(model.timed_call, rule, clock=model.clock), model


def lognormal_ms(median_ms: float, sigma: float, seed: int, size: int = 200_000) -> np.ndarray:
    return median_ms * np.random.default_rng(seed).lognormal(0.0, sigma, size)


def test_quiet_model_reaches_target_early():
    latencies = 1.0 + 0.01 * np.random.default_rng(1).standard_normal(100_000)
    rule = StopRule()
    result, _ = run(latencies, rule)
    assert result.status == "ok"
    assert result.reason_code is None and result.reason is None
    half_width = stats.ci_half_width_pct(result.samples_ms)
    assert half_width is not None and half_width <= rule.target_ci_pct
    assert rule.min_samples <= len(result.samples_ms) < 50
    assert result.elapsed_s < rule.max_seconds


def test_moderately_noisy_model_stops_soon_after_target():
    rule = StopRule()
    result, _ = run(lognormal_ms(1.0, 0.2, seed=2), rule)
    n = len(result.samples_ms)
    assert result.status == "ok"
    assert stats.ci_half_width_pct(result.samples_ms) <= rule.target_ci_pct
    assert 100 < n < rule.max_samples
    # Checked every ~5%: the target was not yet met a check or two earlier.
    assert stats.ci_half_width_pct(result.samples_ms[: int(n * 0.85)]) > rule.target_ci_pct


def test_very_noisy_model_is_invalid_at_time_cap():
    rule = StopRule()
    result, _ = run(lognormal_ms(50.0, 1.0, seed=3), rule)
    n = len(result.samples_ms)
    assert result.status == "invalid"
    assert result.reason_code == "too_noisy"
    # The cap covers warm-up and sampling together.
    total_s = result.warmup_s + result.elapsed_s
    assert rule.max_seconds <= total_s < rule.max_seconds + max(result.samples_ms) / 1000
    assert n < rule.max_samples
    match = re.fullmatch(r"median 95% CI ±(\d+\.\d)% after (\d+) samples in (\d+\.\d) s, target ±2\.0%", result.reason)
    assert match, result.reason
    assert float(match.group(1)) == pytest.approx(stats.ci_half_width_pct(result.samples_ms), abs=0.05)
    assert int(match.group(2)) == n


def test_noise_that_slows_calls_down_does_not_prolong_warmup():
    # Window medians alternate 1 and 3 ms: not a trend towards faster calls, so warm-up is over
    # as soon as a window is not faster than the one before.
    rule = StopRule()
    result, _ = run([1.0, 3.0] * 50_000, rule)
    assert result.warmup_n == 2 * rule.warmup_window


def test_short_cap_leaves_sampling_half_the_time():
    rule = StopRule(max_seconds=4.0)
    falling = [100.0 * 0.98**i for i in range(200)]  # still getting faster when warm-up's half is spent
    latencies = falling + list(lognormal_ms(50.0, 1.0, seed=6))
    result, _ = run(latencies, rule)
    assert rule.max_seconds / 2 <= result.warmup_s < rule.max_seconds / 2 + max(result.warmup_ms) / 1000
    assert result.warmup_s + result.elapsed_s >= rule.max_seconds
    assert result.warmup_s + result.elapsed_s < rule.max_seconds + max(result.samples_ms) / 1000
    assert result.status == "invalid" and result.reason_code == "too_noisy"


def test_noisy_fast_model_is_invalid_at_sample_cap():
    rule = StopRule(max_samples=300)
    result, _ = run(lognormal_ms(1.0, 1.0, seed=4), rule)
    assert len(result.samples_ms) == 300
    assert result.status == "invalid" and result.reason_code == "too_noisy"


def test_call_slower_than_cap_ends_with_too_few_samples():
    rule = StopRule()
    result, model = run([30_000.0] * 100, rule)
    assert result.warmup_n == 1
    assert len(result.samples_ms) == 1
    assert model.calls == 2
    assert result.status == "invalid"
    assert result.reason_code == "too_few_samples"
    assert "1 sample in 30.0 s" in result.reason
    assert result.summary()["latency_ms_p50"] == 30_000.0


def test_warmup_skips_slow_first_calls():
    steady = 1.0 + 0.005 * np.random.default_rng(5).standard_normal(10_000)
    latencies = np.concatenate([np.full(8, 10.0), steady])
    result, _ = run(latencies)
    assert result.warmup_n >= 8
    assert max(result.samples_ms) < 2.0
    assert result.status == "ok"


def test_warmup_follows_a_decay():
    # 10 ms decaying geometrically to 1 ms: within 10% of steady state from call 9 on.
    latencies = [1.0 + 9.0 * 0.6**i for i in range(10_000)]
    result, _ = run(latencies)
    assert result.warmup_n >= 9
    assert result.summary()["latency_ms_p50"] == pytest.approx(1.0, rel=0.02)


def test_steady_model_warms_up_in_two_windows():
    rule = StopRule()
    result, _ = run(np.full(10_000, 2.0), rule)
    assert result.warmup_n == 2 * rule.warmup_window
    assert result.warmup_ms == [2.0] * result.warmup_n


def test_warmup_that_keeps_getting_faster_ends_at_its_cap():
    rule = StopRule()
    # 10% faster every window of 5 until long after the cap, then steady.
    latencies = [100.0 * 0.98**i for i in range(200)] + [1.0] * 10_000
    result, _ = run(latencies, rule)
    warmup_seconds = sum(result.warmup_ms) / 1000
    assert rule.max_warmup_seconds <= warmup_seconds < rule.max_warmup_seconds + max(result.warmup_ms) / 1000
    assert result.warmup_s == pytest.approx(warmup_seconds)


def test_summary_includes_warmup_n():
    result, _ = run(np.full(10_000, 2.0))
    summary = result.summary()
    assert set(summary) == set(stats.SUMMARY_KEYS) | {"warmup_n"}
    assert summary["warmup_n"] == result.warmup_n
    assert summary["n_samples"] == len(result.samples_ms)


def test_impossible_latency_is_refused():
    with pytest.raises(ValueError, match="latency"):
        run([1.0, float("nan")] * 100)


@pytest.mark.parametrize(
    "field, value",
    [
        ("target_ci_pct", 0.0),
        ("target_ci_pct", -1.0),
        ("max_seconds", 0.0),
        ("max_seconds", float("nan")),
        ("max_warmup_seconds", -3.0),
        ("min_warmup", 0),
        ("warmup_window", 0),
        ("warmup_window", 2.5),
        ("warmup_tolerance_pct", float("inf")),
        ("min_samples", -1),
        ("max_samples", 5),  # below min_samples
        ("max_seconds", "10"),
        ("min_samples", True),
    ],
)
def test_invalid_stop_rule_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        StopRule(**{field: value})


def test_stop_rule_is_frozen():
    with pytest.raises(AttributeError):
        StopRule().max_seconds = 1.0  # type: ignore[misc]


def test_loop_overhead_is_tiny_per_sample():
    # Zero-cost calls on the real clock: the time measured is the stop rule's own bookkeeping.
    noisy = iter(lognormal_ms(1.0, 1.0, seed=6).tolist())
    rule = StopRule(max_samples=2000, max_warmup_seconds=1e-6)
    started = time.perf_counter()
    result = measure(lambda: next(noisy), rule)
    per_sample_s = (time.perf_counter() - started) / len(result.samples_ms)
    assert len(result.samples_ms) == 2000
    assert per_sample_s < 50e-6  # a few us in practice; 5% of a 1 ms call at most


def test_time_before_the_rule_started_counts_against_its_budget():
    """A caller's first call (recorded apart) is warm-up too: `started` moves the budget's start back."""
    rule = StopRule(target_ci_pct=0.01, max_seconds=1.0, min_samples=10)
    noisy = list(lognormal_ms(50.0, 0.3, seed=7, size=200))
    alone, _ = run(noisy, rule)
    model = FakeModel(noisy)
    model.now_s = 0.4  # the caller's own first call took 0.4 s
    after_first_call = measure(model.timed_call, rule, clock=model.clock, started=0.0)
    # The whole budget, first call included, is spent: 0.6 s is left for warm-up and sampling.
    assert model.now_s == pytest.approx(1.0, abs=0.2)
    used_alone = sum(alone.warmup_ms) + sum(alone.samples_ms)
    used_after = sum(after_first_call.warmup_ms) + sum(after_first_call.samples_ms)
    assert used_alone / 1000 == pytest.approx(1.0, abs=0.2) and used_after / 1000 == pytest.approx(0.6, abs=0.2)
    # The warm-up cap (half the budget) counts from `started` as well.
    assert sum(after_first_call.warmup_ms) / 1000 <= 0.5 - 0.4 + 0.2
