"""Summary statistics for latency samples (milliseconds), distribution-free where it matters.

Latencies are skewed and heavy-tailed, so intervals come from order statistics: the number of
samples below the true q-quantile is Binomial(n, q) whatever the distribution, which gives exact
(conservative) confidence intervals from ranks alone. A percentile is reported only when n is
large enough for such an interval to exist at 95%; otherwise it would be a number without any
guarantee.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from scipy.special import bdtr, bdtrc, bdtrik

SUMMARY_KEYS = (
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_mean",
    "latency_ms_std",
    "latency_ms_iqr",
    "ci95_low_ms",
    "ci95_high_ms",
    "n_samples",
)

Samples = Sequence[float] | np.ndarray


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _sorted_samples(samples: Samples) -> np.ndarray:
    values = np.sort(np.asarray(samples, dtype=float).ravel())
    # A NaN would sort to the end and silently become the "maximum": refuse it instead.
    if not np.isfinite(values).all():
        raise ValueError("samples must be finite")
    return values


def _smallest_satisfying(predicate: Callable[[int], bool], guess: int, lo: int, hi: int) -> int:
    """Smallest x in [lo, hi] with predicate(x), for a predicate that flips once from False to
    True; hi + 1 when none. Walks from a close guess, so it costs a few evaluations, not n."""
    x = min(max(guess, lo), hi + 1)
    while x > lo and predicate(x - 1):
        x -= 1
    while x <= hi and not predicate(x):
        x += 1
    return x


def _guess(y: float, n: int, q: float) -> float:
    # bdtrik inverts the binomial CDF approximately; it is only a starting point for the walk.
    value = float(bdtrik(y, n, q))
    return value if math.isfinite(value) else n * q


@lru_cache(maxsize=4096)
def _ci_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """1-based ranks (j, k) with P(X_(j) <= quantile <= X_(k)) >= confidence, or None.

    B ~ Binomial(n, q) counts samples below the quantile. X_(j) is above it with probability
    P(B <= j-1) and X_(k) below it with P(B >= k). Equal tail probabilities when both fit inside
    n; when one cannot, that side is pinned to the extreme sample and the other side gets the
    rest of the error budget.

    Uses scipy.special's binomial CDF/SF/inverse (what scipy.stats.binom is built on) directly:
    the stop rule re-checks the interval often and rv_discrete costs ~50 us per call.
    """
    if n < 1:
        return None
    alpha = 1.0 - confidence

    def lower_rank(budget: float) -> int:  # largest j with P(B <= j-1) <= budget; 0 = none
        guess = math.floor(_guess(budget, n, q)) + 1
        return _smallest_satisfying(lambda m: bdtr(m, n, q) > budget, guess, 0, n - 1)

    def upper_rank(budget: float) -> int:  # smallest k with P(B >= k) <= budget; n + 1 = none
        guess = math.ceil(_guess(1.0 - budget, n, q)) + 1
        return _smallest_satisfying(lambda k: bdtrc(k - 1, n, q) <= budget, guess, 1, n)

    j, k = lower_rank(alpha / 2), upper_rank(alpha / 2)
    if j < 1:
        j, k = 1, upper_rank(alpha - bdtr(0, n, q))
    elif k > n:
        j, k = lower_rank(alpha - bdtrc(n - 1, n, q)), n
    return (j, k) if 1 <= j <= k <= n else None


def quantile_ci(samples: Samples, q: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Order-statistic confidence interval for the q-quantile; None when n is too small."""
    _check_fraction("q", q)
    _check_fraction("confidence", confidence)
    return _ci_of_sorted(_sorted_samples(samples), float(q), float(confidence))


def _ci_of_sorted(values: np.ndarray, q: float, confidence: float) -> tuple[float, float] | None:
    ranks = _ci_ranks(len(values), q, confidence)
    if ranks is None:
        return None
    low_rank, high_rank = ranks
    return float(values[low_rank - 1]), float(values[high_rank - 1])


def _median_of_sorted(values: np.ndarray) -> float:
    # np.median would partition again and costs ~10 us of overhead; the stop rule calls this often.
    middle = len(values) // 2
    return float(values[middle]) if len(values) % 2 else float(values[middle - 1] + values[middle]) / 2.0


def median_ci(samples: Samples, confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval for the median (None for n < 6 at 95%)."""
    return quantile_ci(samples, 0.5, confidence)


def min_samples_for_quantile(q: float, confidence: float = 0.95) -> int:
    """Smallest n for which the q-quantile has an order-statistic interval at `confidence`.

    The widest interval, [min, max], misses the quantile only when all samples fall on one side
    of it: probability (1-q)^n + q^n. The answer is the first n where that is <= 1 - confidence.
    """
    _check_fraction("q", q)
    _check_fraction("confidence", confidence)
    alpha = 1.0 - confidence
    # Both miss terms must fit in alpha, so the larger one alone gives a lower bound to start from.
    n = max(1, math.ceil(math.log(alpha) / math.log(max(q, 1.0 - q))))
    while (1.0 - q) ** n + q**n > alpha:
        n += 1
    return n


def nearest_rank(samples: Samples, q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least a fraction q at or below it."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    values = _sorted_samples(samples)
    if len(values) == 0:
        raise ValueError("nearest_rank of no samples")
    # Rounding first stops float noise (0.07 * 100 = 7.000000000000001) from adding a rank.
    rank = max(1, math.ceil(round(q * len(values), 9)))
    return float(values[rank - 1])


def _percentile_if_supported(values: np.ndarray, q: float) -> float | None:
    return nearest_rank(values, q) if len(values) >= min_samples_for_quantile(q) else None


def summarize(samples_ms: Samples) -> dict[str, float | int | None]:
    """Median, tails (only when supported by n), mean, std, IQR and the median's 95% CI."""
    values = _sorted_samples(samples_ms)
    n = len(values)
    if n == 0:
        return {key: None for key in SUMMARY_KEYS} | {"n_samples": 0}
    ci = median_ci(values)
    q1, q3 = np.percentile(values, [25, 75])
    return {
        "latency_ms_p50": _median_of_sorted(values),
        "latency_ms_p90": _percentile_if_supported(values, 0.90),
        "latency_ms_p99": _percentile_if_supported(values, 0.99),
        "latency_ms_mean": float(values.mean()),
        # Sample std needs two points; with one it is undefined, not zero.
        "latency_ms_std": float(values.std(ddof=1)) if n > 1 else None,
        "latency_ms_iqr": float(q3 - q1),
        "ci95_low_ms": ci[0] if ci else None,
        "ci95_high_ms": ci[1] if ci else None,
        "n_samples": n,
    }


def ci_half_width_pct(samples: Samples) -> float | None:
    """Half-width of the median's 95% CI as a percent of the median; None without a CI."""
    values = _sorted_samples(samples)
    ci = _ci_of_sorted(values, 0.5, 0.95)
    if ci is None:
        return None
    median = _median_of_sorted(values)
    if median <= 0:
        return None  # a relative width means nothing for a non-positive median
    return (ci[1] - ci[0]) / 2.0 / median * 100.0
