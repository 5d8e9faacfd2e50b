"""Steps in one series' history of runs: pure numbers in, findings out (no storage, no dagster).

A series is one configuration (hardware, model type, size, batch, sequence length, dtype,
scenario, workers) measured run after run. Each run gives a level (the mean of its per-process
medians, `latency_ms_p50`) and its per-process medians. Everything here works on the logarithm of
the level, so a change is relative and a slowdown is positive, and judges it against the series'
own run-to-run noise sigma, estimated from the series itself: on this host two runs minutes apart
differ far more than the samples inside one run.

Two detectors, each from a well-kept library where one exists:
- the latest run against its baseline (the runs since the last change point, at most
  `BASELINE_RUNS`): a one-sided Mann-Whitney U test (scipy) of the latest run's per-process
  medians against the baseline runs' per-process medians, gated by a minimum effect of
  `LATEST_RUN_SIGMAS` sigma. The raw samples are not independent across processes and give
  p-values near zero, so they are never tested. One run alone cannot be told from an outlier:
  the finding is `pending` until the series is measured again (the confirmation sensor).
- change points over the whole history: PELT (`ruptures`) on the levels in units of sigma, each
  split then kept only when the runs after it differ from the runs before it by at least
  `STEP_SIGMAS` sigma with a Mann-Whitney p-value under `STEP_P_VALUE`, and `MIN_SEGMENT_RUNS` runs
  on each side: a single outlier run is not a step. A slow drift shows up as a split too.

Sigma: 1.4826 x the median absolute deviation of the residuals around each segment's median (the
segments between accepted change points), winsorised at `WINSOR_SIGMAS` and taken as a standard
deviation: robust to an outlier run, and nearly as efficient as a plain standard deviation on
normal noise. A first guess, before any segment is known, comes from successive differences,
which a step moves only once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ROBUST_SIGMA_PER_MAD = 1.4826
# Fewer runs than this and a series gets no verdict (`insufficient_history`): the baseline needs
# enough runs for its own level and for sigma.
MIN_HISTORY = 8
MIN_BASELINE_RUNS = 5
BASELINE_RUNS = 40  # the latest run is compared with at most this many runs before it (Netflix: 40)
# A latest run this far out is flagged `pending`; the confirmation sensor measures the series once
# more, and `confirm` judges both runs together (a mean of two runs has sigma / sqrt 2): two
# stages reach a recall and a false-alarm rate that no single-run threshold reaches (Pinpoint
# adds repeats until a comparison is decided, PyTorch HUD waits for two violations).
LATEST_RUN_SIGMAS = 2.0
LATEST_RUN_P_VALUE = 0.05
CONFIRM_SIGMAS = 3.0
CONFIRM_EACH_SIGMAS = 1.0  # and every run after the flag is itself this far out: one slow run cannot carry a normal one
STEP_SIGMAS = 1.2
STEP_Z = 3.0
STEP_P_VALUE = 0.0005
MIN_SEGMENT_RUNS = 3
WINSOR_SIGMAS = 3.0
# PELT's penalty per change point, in units of sigma squared times log(n) (a BIC-like penalty).
PENALTY_PER_LOG_RUN = 2.5
# Relative noise below this floor is treated as the floor: a series that never moved would
# otherwise turn any 0.1% wobble into many sigma.
MIN_SIGMA_LOG = 0.002


@dataclass(frozen=True)
class History:
    """One series' runs, oldest first: per-run levels (ms) and each run's per-process medians."""

    levels_ms: np.ndarray
    process_medians_ms: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, levels_ms: Sequence[float], process_medians_ms: Sequence[Sequence[float] | None] | None = None):
        """Validated: every level a finite positive latency; a run without per-process medians
        (a single-process run) stands for itself."""
        levels = np.asarray(levels_ms, dtype=float)
        if levels.ndim != 1 or levels.size == 0:
            raise ValueError("a history needs at least one run level")
        if not np.all(np.isfinite(levels)) or np.any(levels <= 0):
            raise ValueError(f"run levels must be finite positive latencies in ms, got {levels.tolist()!r}")
        medians = process_medians_ms if process_medians_ms is not None else [None] * levels.size
        if len(medians) != levels.size:
            raise ValueError(f"{len(medians)} lists of per-process medians for {levels.size} runs")
        runs = tuple(tuple(float(v) for v in m) if m else (float(level),) for m, level in zip(medians, levels))
        return cls(levels, runs)

    @property
    def log_levels(self) -> np.ndarray:
        return np.log(self.levels_ms)

    def prefix(self, end: int) -> History:
        """The first `end` runs: the history as it stood when run `end - 1` was the latest."""
        return History(self.levels_ms[:end], self.process_medians_ms[:end])


@dataclass(frozen=True)
class Finding:
    """A change found in a history: where, how large and how sure.

    `index` is the first run after the change; `baseline` the runs it was compared with
    (`baseline_from`..`baseline_to`, inclusive indices); `change_pct` > 0 is a slowdown;
    `effect` is the change in sigma; `method` is `latest_run` or `change_point`."""

    method: str
    index: int
    baseline_from: int
    baseline_to: int
    baseline_value: float
    current_value: float
    change_pct: float
    effect: float
    p_value: float
    sigma_pct: float

    @property
    def is_slowdown(self) -> bool:
        return self.change_pct > 0


def first_guess_sigma(log_levels: np.ndarray) -> float:
    """Sigma from successive differences (a step moves one of them): 1.4826 x MAD(diff) / sqrt 2."""
    if log_levels.size < 3:
        return MIN_SIGMA_LOG
    differences = np.diff(log_levels)
    mad = float(np.median(np.abs(differences - np.median(differences))))
    return max(ROBUST_SIGMA_PER_MAD * mad / math.sqrt(2.0), MIN_SIGMA_LOG)


def segment_sigma(log_levels: np.ndarray, breaks: Sequence[int]) -> float:
    """Sigma of the residuals around each segment's median (`breaks`: first index of each new
    segment), winsorised at `WINSOR_SIGMAS` robust sigmas, with one degree of freedom per segment."""
    bounds = [0, *breaks, log_levels.size]
    residuals = np.concatenate(
        [log_levels[a:b] - np.median(log_levels[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]
    )
    mad = float(np.median(np.abs(residuals)))
    robust = ROBUST_SIGMA_PER_MAD * mad
    if robust <= 0:
        return MIN_SIGMA_LOG
    clipped = np.clip(residuals, -WINSOR_SIGMAS * robust, WINSOR_SIGMAS * robust)
    dof = max(residuals.size - (len(bounds) - 1), 1)
    return max(float(math.sqrt(np.sum(clipped**2) / dof)), MIN_SIGMA_LOG)


def pelt_breaks(log_levels: np.ndarray, sigma: float) -> list[int]:
    """Candidate change points (first index of each new segment) from PELT on levels in sigma."""
    import ruptures

    n = log_levels.size
    if n < 2 * MIN_SEGMENT_RUNS:
        return []
    signal = ((log_levels - np.median(log_levels)) / sigma).reshape(-1, 1)
    # PELT with the least-squares cost: with a linear kernel, ruptures' KernelCPD is exactly
    # `Pelt(model="l2")` (same splits), but runs in C, ~800x faster at 50 runs (`Pelt` evaluates
    # each candidate segment's variance in Python): what lets `regressions` judge 20,000 series in seconds.
    algorithm = ruptures.KernelCPD(kernel="linear", min_size=MIN_SEGMENT_RUNS, jump=1).fit(signal)
    return [index for index in algorithm.predict(pen=PENALTY_PER_LOG_RUN * math.log(n)) if index < n]


def _directional_p(after: Sequence[float], before: Sequence[float], change: float) -> float:
    """One-sided Mann-Whitney U p-value that `after` lies on the side of `before` that `change`
    points to (larger for a slowdown, smaller for a speed-up); exact for small samples."""
    # Imported here, like ruptures: the Dagster process loads this module with the definitions,
    # and scipy.stats alone adds ~0.5 s to every `dagster job execute`.
    from scipy.stats import mannwhitneyu

    alternative = "greater" if change >= 0 else "less"
    return float(mannwhitneyu(after, before, alternative=alternative).pvalue)


def accepted_steps(y: np.ndarray, sigma: float) -> tuple[list[Finding], list[int]]:
    """The change points PELT proposes in the log levels `y` that pass the effect and p-value gates,
    oldest first, and the accepted breaks. Each is judged against its neighbouring segments
    (between accepted breaks)."""
    candidates = pelt_breaks(y, sigma)
    findings: list[Finding] = []
    accepted: list[int] = []
    for position, index in enumerate(candidates):
        start = accepted[-1] if accepted else 0
        end = candidates[position + 1] if position + 1 < len(candidates) else y.size
        before, after = y[start:index], y[index:end]
        if before.size < MIN_SEGMENT_RUNS or after.size < MIN_SEGMENT_RUNS:
            continue
        # The cheap gates first: the Mann-Whitney test costs ~1 ms, and most candidates fail them.
        if _step_z(after, before, sigma) < STEP_Z or abs(_median_change(after, before)) < STEP_SIGMAS * sigma:
            continue
        finding = _compare(index, start, after, before, sigma)
        if finding.p_value <= STEP_P_VALUE:
            findings.append(finding)
            accepted.append(index)
    return findings, accepted


def _winsorised_mean(values: np.ndarray, sigma: float) -> float:
    centre = float(np.median(values))
    return float(np.mean(np.clip(values, centre - WINSOR_SIGMAS * sigma, centre + WINSOR_SIGMAS * sigma)))


def _step_z(after: np.ndarray, before: np.ndarray, sigma: float) -> float:
    """|difference of the segments' winsorised means| in standard errors: the gate of a split.
    Means, not medians: a median wastes a third of the runs' information on normal noise, and
    winsorising keeps one outlier run from carrying a segment."""
    difference = _winsorised_mean(after, sigma) - _winsorised_mean(before, sigma)
    return abs(difference) / (sigma * math.sqrt(1.0 / after.size + 1.0 / before.size))


def _finding(
    method: str, index: int, baseline: tuple[int, int], levels: tuple[float, float], p_value: float, sigma: float
) -> Finding:
    """A finding from its place, its (before, after) log levels, its p-value and sigma (log units)."""
    level_before, level_after = levels
    change = level_after - level_before
    return Finding(
        method=method,
        index=index,
        baseline_from=baseline[0],
        baseline_to=baseline[1],
        baseline_value=math.exp(level_before),
        current_value=math.exp(level_after),
        change_pct=(math.exp(change) - 1.0) * 100.0,
        effect=change / sigma,
        p_value=p_value,
        sigma_pct=(math.exp(sigma) - 1.0) * 100.0,
    )


def _median_change(after: np.ndarray, before: np.ndarray) -> float:
    return float(np.median(after)) - float(np.median(before))


def _compare(index: int, start: int, after: np.ndarray, before: np.ndarray, sigma: float) -> Finding:
    """A change point at `index`: the runs after it against those from `start`, by their medians."""
    levels = (float(np.median(before)), float(np.median(after)))
    p_value = _directional_p(after, before, levels[1] - levels[0])
    return _finding("change_point", index, (start, index - 1), levels, p_value, sigma)


def latest_run(history: History, sigma: float, breaks: Sequence[int]) -> Finding | None:
    """The latest run against the runs since the last accepted break (at most `BASELINE_RUNS`):
    None when the baseline is shorter than `MIN_BASELINE_RUNS` or the gates are not passed.

    The test compares per-process medians (the latest run's against all of the baseline runs'),
    the effect compares the latest level with the baseline's median level, in sigma; both must agree."""
    n = history.levels_ms.size
    start = max([0, *[b for b in breaks if b < n - 1]])
    start = max(start, n - 1 - BASELINE_RUNS)
    if n - 1 - start < MIN_BASELINE_RUNS:
        return None
    y = history.log_levels
    baseline_level = float(np.median(y[start : n - 1]))
    change = float(y[-1]) - baseline_level
    if abs(change) / sigma < LATEST_RUN_SIGMAS:
        return None
    latest_processes = np.log(history.process_medians_ms[-1])
    baseline_processes = np.log(np.concatenate(history.process_medians_ms[start : n - 1]))
    p_value = _directional_p(latest_processes, baseline_processes, change)
    if p_value > LATEST_RUN_P_VALUE:
        return None
    return _finding("latest_run", n - 1, (start, n - 2), (baseline_level, float(y[-1])), p_value, sigma)


@dataclass(frozen=True)
class Verdict:
    """What the detectors say about one history: its findings, oldest first, and sigma (log units),
    or why there is no verdict (`insufficient_history`)."""

    findings: tuple[Finding, ...]
    sigma: float | None
    reason_code: str | None = None

    @property
    def slowdowns(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.is_slowdown)


def detect(history: History) -> Verdict:
    """Both detectors over one series' history (oldest first)."""
    n = history.levels_ms.size
    if n < MIN_HISTORY:
        return Verdict((), None, "insufficient_history")
    y = history.log_levels
    # The latest run is kept out of sigma and of the baseline's segmentation: it is what is judged.
    baseline = y[:-1]
    sigma = first_guess_sigma(baseline)
    _, breaks = accepted_steps(baseline, sigma)
    sigma = segment_sigma(baseline, breaks)
    steps, breaks = accepted_steps(y, sigma)
    latest = latest_run(history, sigma, [b for b in breaks if b < n - MIN_SEGMENT_RUNS])
    findings = list(steps)
    if latest is not None and not any(step.index > n - 1 - MIN_SEGMENT_RUNS for step in steps):
        findings.append(latest)
    return Verdict(tuple(findings), sigma)


def confirm(history: History, flagged: Finding, sigma: float) -> bool:
    """Whether the runs after a `pending` latest-run finding confirm it: together with the flagged
    run, their mean log level lies at least `CONFIRM_SIGMAS` standard errors beyond the flag's
    baseline (the same runs it was judged against), and each of them lies at least
    `CONFIRM_EACH_SIGMAS` sigma beyond it on the same side. `history` holds the flagged run and at least one run after it."""
    if history.levels_ms.size <= flagged.index + 1:
        raise ValueError(f"no run after the flagged run {flagged.index} to confirm it with")
    y = history.log_levels
    baseline = y[flagged.baseline_from : flagged.baseline_to + 1]
    level = float(np.median(baseline))
    sign = 1.0 if flagged.change_pct > 0 else -1.0
    repeats = (y[flagged.index :] - level) * sign
    # The standard error of a mean of m runs, and of the baseline median (pi/2 times a mean's variance).
    error = sigma * math.sqrt(1.0 / repeats.size + math.pi / 2.0 / baseline.size)
    return bool(
        np.all(repeats[1:] >= CONFIRM_EACH_SIGMAS * sigma) and float(np.mean(repeats)) / error >= CONFIRM_SIGMAS
    )
