import math

import numpy as np
import pytest
from scipy.stats import binom, lognorm

from mlperf_pipeline.bench import stats


def _coverage(j: int, k: int, n: int, q: float) -> float:
    """P(X_(j) <= quantile <= X_(k)) for a continuous distribution, straight from the binomial."""
    return binom.cdf(k - 1, n, q) - binom.cdf(j - 1, n, q)


def _ranks(n: int, q: float, confidence: float = 0.95):
    # On the samples 1..n each order statistic equals its rank, so the interval shows the ranks.
    ci = stats.quantile_ci(np.arange(1, n + 1), q, confidence)
    return None if ci is None else (int(ci[0]), int(ci[1]))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99, 0.25])
@pytest.mark.parametrize("confidence", [0.95, 0.90])
def test_min_samples_for_quantile_matches_direct_binomial(q, confidence):
    n = stats.min_samples_for_quantile(q, confidence)
    # [min, max] is the widest interval there is: it must reach the confidence at n, not at n - 1.
    assert _coverage(1, n, n, q) >= confidence
    assert _coverage(1, n - 1, n - 1, q) < confidence
    assert _ranks(n, q, confidence) is not None
    assert _ranks(n - 1, q, confidence) is None


def test_min_samples_known_values():
    assert stats.min_samples_for_quantile(0.5) == 6  # 2 * 0.5**6 = 0.031 <= 0.05 < 2 * 0.5**5
    assert stats.min_samples_for_quantile(0.99) == math.ceil(math.log(0.05) / math.log(0.99))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_ci_ranks_cover_and_are_as_tight_as_the_tails_allow(q):
    alpha = 0.05
    for n in range(stats.min_samples_for_quantile(q), 700, 7):
        j, k = _ranks(n, q)
        assert _coverage(j, k, n, q) >= 1 - alpha
        lower_tail, upper_tail = binom.cdf(j - 1, n, q), binom.sf(k - 1, n, q)
        # Neither end can move inwards without breaking its share of the error budget.
        if lower_tail <= alpha / 2 and upper_tail <= alpha / 2:
            assert j == n or binom.cdf(j, n, q) > alpha / 2
            assert k == 1 or binom.sf(k - 2, n, q) > alpha / 2
        else:  # one end pinned to the extreme sample; the other uses the rest of the budget
            assert j == 1 or k == n
            assert _coverage(j + 1, k, n, q) < 1 - alpha or j == 1
            assert _coverage(j, k - 1, n, q) < 1 - alpha or k == n


def test_median_ci_needs_six_samples():
    assert stats.median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert stats.median_ci([6.0, 1.0, 5.0, 2.0, 4.0, 3.0]) == (1.0, 6.0)
    assert stats.median_ci(np.arange(1, 11)) == (2.0, 9.0)


def test_median_ci_coverage_by_simulation():
    rng = np.random.default_rng(1234)
    trials = rng.lognormal(mean=0.0, sigma=1.0, size=(2000, 50))  # true median exp(0) = 1
    intervals = [stats.median_ci(row) for row in trials]
    covered = np.mean([low <= 1.0 <= high for low, high in intervals])
    # Nominal coverage for n=50 is 0.967; far above would mean needlessly wide intervals.
    assert 0.94 <= covered <= 0.99


def test_p90_ci_coverage_by_simulation():
    rng = np.random.default_rng(99)
    true_p90 = lognorm.ppf(0.9, s=0.5)
    trials = rng.lognormal(mean=0.0, sigma=0.5, size=(2000, 100))
    covered = np.mean([low <= true_p90 <= high for low, high in (stats.quantile_ci(r, 0.9) for r in trials)])
    assert 0.94 <= covered <= 0.99


def test_nearest_rank():
    assert stats.nearest_rank(np.arange(1, 11), 0.9) == 9.0
    assert stats.nearest_rank(np.arange(1, 101), 0.07) == 7.0  # 0.07 * 100 is 7.000000000000001
    assert stats.nearest_rank([3.0, 1.0, 2.0], 0.5) == 2.0
    assert stats.nearest_rank([3.0, 1.0, 2.0], 1.0) == 3.0
    assert stats.nearest_rank([5.0], 0.01) == 5.0
    with pytest.raises(ValueError):
        stats.nearest_rank([], 0.5)


def test_summarize_empty():
    summary = stats.summarize([])
    assert set(summary) == set(stats.SUMMARY_KEYS)
    assert summary["n_samples"] == 0
    assert all(value is None for key, value in summary.items() if key != "n_samples")


def test_summarize_values():
    summary = stats.summarize(np.arange(100, 0, -1).astype(float))
    assert set(summary) == set(stats.SUMMARY_KEYS)
    assert summary["n_samples"] == 100
    assert summary["latency_ms_p50"] == 50.5
    assert summary["latency_ms_p90"] == 90.0
    assert summary["latency_ms_p99"] is None  # 100 < 299 samples
    assert summary["latency_ms_mean"] == 50.5
    assert summary["latency_ms_std"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert summary["latency_ms_iqr"] == pytest.approx(49.5)
    assert (summary["ci95_low_ms"], summary["ci95_high_ms"]) == stats.median_ci(np.arange(1, 101))


def test_p99_reported_only_with_enough_samples():
    rng = np.random.default_rng(7)
    assert stats.summarize(rng.lognormal(size=50))["latency_ms_p99"] is None
    assert stats.summarize(rng.lognormal(size=50))["latency_ms_p90"] is not None
    large = rng.lognormal(size=1000)
    assert stats.summarize(large)["latency_ms_p99"] == np.sort(large)[989]


def test_summarize_single_sample():
    summary = stats.summarize([4.0])
    assert summary["latency_ms_p50"] == 4.0
    assert summary["latency_ms_std"] is None
    assert summary["ci95_low_ms"] is None and summary["ci95_high_ms"] is None


def test_ci_half_width_pct():
    assert stats.ci_half_width_pct(np.arange(1, 11)) == pytest.approx((9 - 2) / 2 / 5.5 * 100)
    assert stats.ci_half_width_pct([1.0, 2.0, 3.0]) is None


@pytest.mark.parametrize("bad", [[1.0, float("nan"), 2.0], [1.0, float("inf")]])
def test_non_finite_samples_are_refused(bad):
    with pytest.raises(ValueError):
        stats.summarize(bad)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5])
def test_quantile_out_of_range_is_refused(q):
    with pytest.raises(ValueError):
        stats.quantile_ci([1.0] * 10, q)
    with pytest.raises(ValueError):
        stats.min_samples_for_quantile(q)
