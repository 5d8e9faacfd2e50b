"""The step detectors on seeded synthetic histories whose changes are known."""

import math

import numpy as np
import pytest

from mlperf_pipeline.analysis.steps import MIN_HISTORY, History, detect, first_guess_sigma, segment_sigma

SIGMA = 0.03  # 3% run-to-run noise, on the log scale


def _history(shift: np.ndarray, seed: int, sigma: float = SIGMA) -> History:
    rng = np.random.default_rng(seed)
    runs = np.log(120.0) + sigma * rng.standard_normal(shift.size) + shift
    processes = np.exp(runs[:, None] + sigma * rng.standard_normal((shift.size, 3)))
    return History.of(processes.mean(axis=1), processes.tolist())


def _steps(runs: int = 30, at: int | None = None, size_sigma: float = 0.0) -> np.ndarray:
    shift = np.zeros(runs)
    if at is not None:
        shift[at:] = size_sigma * SIGMA
    return shift


def test_a_short_history_gets_no_verdict_and_says_why():
    verdict = detect(_history(_steps(MIN_HISTORY - 1), seed=1))
    assert verdict.findings == () and verdict.reason_code == "insufficient_history"


@pytest.mark.parametrize("seed", range(5))
def test_clean_histories_are_not_flagged(seed):
    assert detect(_history(_steps(), seed)).slowdowns == ()


def test_a_large_step_in_the_latest_run_is_found_with_its_size():
    verdict = detect(_history(_steps(at=29, size_sigma=10), seed=2))
    (finding,) = verdict.slowdowns
    assert (finding.method, finding.index, finding.baseline_to) == ("latest_run", 29, 28)
    assert finding.effect > 5 and 20 < finding.change_pct < 50  # 10 x 3% = +35% injected
    assert finding.p_value < 0.05 and finding.current_value > finding.baseline_value


def test_an_old_step_is_found_where_it_happened():
    verdict = detect(_history(_steps(at=18, size_sigma=5), seed=3))
    (finding,) = verdict.slowdowns
    assert finding.method == "change_point" and abs(finding.index - 18) <= 1
    assert finding.baseline_from == 0 and finding.p_value <= 0.001


def test_a_single_outlier_run_is_not_a_step():
    shift = _steps()
    shift[15] = 8 * SIGMA
    assert detect(_history(shift, seed=4)).slowdowns == ()


def test_an_improvement_is_reported_as_one_and_never_as_a_slowdown():
    verdict = detect(_history(_steps(at=20, size_sigma=-6), seed=5))
    assert verdict.slowdowns == ()
    (finding,) = verdict.findings
    assert finding.change_pct < 0 and finding.effect < 0


def test_sigma_is_estimated_from_the_series_and_not_moved_by_a_step():
    history = _history(_steps(at=15, size_sigma=8), seed=6)
    y = history.log_levels
    # The levels' true sigma: run jitter plus the mean of three process medians.
    true = SIGMA * math.sqrt(1 + 1 / 3)
    assert first_guess_sigma(y) == pytest.approx(true, rel=0.5)
    assert segment_sigma(y, [15]) == pytest.approx(true, rel=0.35)
    assert segment_sigma(y, []) > 2 * segment_sigma(y, [15])  # ignoring the step would inflate it


@pytest.mark.parametrize(
    ("levels", "processes", "message"),
    [
        ([], None, "at least one run"),
        ([10.0, float("nan")], None, "finite positive"),
        ([10.0, 0.0], None, "finite positive"),
        ([10.0, 11.0], [[10.0]], "1 lists of per-process medians for 2 runs"),
    ],
)
def test_bad_histories_are_refused_with_what_is_wrong(levels, processes, message):
    with pytest.raises(ValueError, match=message):
        History.of(levels, processes)


def test_a_pending_latest_run_is_confirmed_by_a_slow_rerun_and_refuted_by_a_normal_one():
    from mlperf_pipeline.analysis.steps import confirm

    shift = _steps(runs=31, at=29, size_sigma=5)
    slow = _history(shift, seed=8)  # runs 29 and 30 both 5 sigma slow
    flagged = slow.prefix(30)  # before the rerun
    verdict = detect(flagged)
    (finding,) = verdict.slowdowns
    assert finding.method == "latest_run" and finding.index == 29
    assert confirm(slow, finding, verdict.sigma)
    # The same flag, and a rerun back at the baseline's level: refuted.
    back = History.of(
        [*flagged.levels_ms, float(np.median(flagged.levels_ms[:29]))], [*flagged.process_medians_ms, None]
    )
    assert not confirm(back, finding, verdict.sigma)
    with pytest.raises(ValueError, match="no run after the flagged run 29"):
        confirm(flagged, finding, verdict.sigma)


def test_the_fast_pelt_finds_the_same_change_points_as_ruptures_pelt_with_the_l2_cost():
    # `pelt_breaks` runs ruptures' KernelCPD with a linear kernel (in C) for Pelt(model="l2").
    import ruptures

    from mlperf_pipeline.analysis.steps import MIN_SEGMENT_RUNS, PENALTY_PER_LOG_RUN, pelt_breaks

    rng = np.random.default_rng(11)
    found = 0
    for case in range(60):
        y = SIGMA * rng.standard_normal(40)
        y[rng.integers(5, 35) :] += SIGMA * rng.uniform(0, 5) * (case % 2)
        signal = ((y - np.median(y)) / SIGMA).reshape(-1, 1)
        expected = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT_RUNS, jump=1).fit(signal)
        reference = [i for i in expected.predict(pen=PENALTY_PER_LOG_RUN * math.log(40)) if i < 40]
        assert pelt_breaks(y, SIGMA) == reference
        found += bool(reference)
    assert found >= 20  # the comparison covered signals with change points, not only empty answers
