"""The calibrated roofline on rows made from known parameters, and drift between fits."""

import numpy as np
import pandas as pd
import pytest

from mlperf_pipeline.analysis.calibration import POOLED, Group, Params, calibrate, predicted_seconds
from mlperf_pipeline.analysis.drift import FamilyTime, against_previous, change_points, drifts, holm
from mlperf_pipeline.analysis.validation import (
    accuracy,
    calibrated_out_of_fold,
    flops_only_out_of_fold,
    uncalibrated_seconds,
)

PEAK, BANDWIDTH = 140e9, 35e9
TRUE = {"encoder": Params(0.45, 0.5, 4e-6), "decoder": Params(0.3, 0.6, 6e-6)}
# Real type names, so that their architecture groups are real: roberta is in bert's group.
TYPES = {
    "encoder": ["bert", "roberta", "albert", "distilbert", "electra", "deberta-v2"],
    "decoder": ["gpt2", "gpt_neo", "bloom", "codegen", "gptj", "falcon"],
}


def _rows(seed=0, noise=0.03, slow_family=None, slowdown=1.0) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    rows = []
    for family, types in TYPES.items():
        for index, model_type in enumerate(types):
            for size_scale in (1e-3, 1.0):  # tiny and full
                for batch in (1, 8):
                    flops = 2e10 * size_scale * batch * (1 + index / 3)
                    rows.append(
                        {"hardware": "cpu", "dtype": "float32", "family": family, "model_type": model_type,
                         "scenario": "latency", "flops": flops, "bytes": flops / (8 + 30 * size_scale),
                         "ops": 300 + 60 * index, "peak": PEAK, "bandwidth": BANDWIDTH}
                    )  # fmt: skip
    work = pd.DataFrame(rows)
    work["seconds"] = 0.0
    for family, params in TRUE.items():
        mask = work["family"] == family
        work.loc[mask, "seconds"] = predicted_seconds(params, work[mask])
    work["seconds"] *= np.exp(generator.normal(0, noise, len(work)))
    if slow_family:
        work.loc[work["family"] == slow_family, "seconds"] *= slowdown
    work["latency_ms_p50"] = work["seconds"] * 1e3
    return work


@pytest.mark.slow
def test_the_fit_recovers_known_parameters_with_intervals_that_cover_them():
    calibration = calibrate(_rows(), bootstrap=100)
    for family, truth in TRUE.items():
        fitted = calibration.params[Group("cpu", family, "float32")]
        assert fitted.e_compute == pytest.approx(truth.e_compute, rel=0.1)
        assert fitted.overhead_s == pytest.approx(truth.overhead_s, rel=0.15)
        low, high = calibration.intervals[Group("cpu", family, "float32")]["e_compute"]
        assert low <= truth.e_compute <= high
    assert Group("cpu", POOLED, "float32") in calibration.params
    rows = calibration.param_rows(pd.Timestamp("2026-12-01"), "r")
    assert len(rows) == 3 * 3 and {row["parameter"] for row in rows} == {"e_compute", "e_memory", "overhead_s"}


def test_a_family_of_one_type_stays_near_the_pool():
    work = _rows()
    lone = work[work["model_type"] == "gpt2"].copy()
    lone["family"] = "moe"
    lone["seconds"] *= 3  # its one type is 3x slower than the pool's parameters say
    calibration = calibrate(pd.concat([work[work["family"] == "encoder"], lone]), bootstrap=0)
    pooled = calibration.params[Group("cpu", POOLED, "float32")]
    alone = calibrate(lone, bootstrap=0).params[Group("cpu", "moe", "float32")]
    pulled = calibration.params[Group("cpu", "moe", "float32")]
    # Pulled towards the pool: between its own fit and the pool's, not at its own.
    assert pooled.e_compute > pulled.e_compute > alone.e_compute
    assert calibration.intervals[Group("cpu", "moe", "float32")] == {}  # one type: no interval


def test_held_out_by_architecture_the_calibrated_roofline_beats_the_baselines():
    work = _rows()
    measured = work["seconds"].to_numpy()
    calibrated = accuracy(measured, calibrated_out_of_fold(work))
    uncalibrated = accuracy(measured, uncalibrated_seconds(work))
    flops_only = accuracy(measured, flops_only_out_of_fold(work))
    assert calibrated.mape_pct < 10 and calibrated.n == len(work)
    assert uncalibrated.mape_pct > 50  # the bare roofline is optimistic by 2x and more
    assert flops_only.mape_pct > calibrated.mape_pct


def test_holm_controls_the_family_wise_error():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def _history(work, fitted_at):
    """`calibration_params` rows of a fit of `work`, as the store holds them."""
    return pd.DataFrame(calibrate(work, bootstrap=100).param_rows(pd.Timestamp(fitted_at), fitted_at))


def _drifts_since(history, work):
    return drifts(calibrate(work, bootstrap=100), work, history)


@pytest.mark.slow
def test_an_unchanged_remeasurement_shows_no_drift_and_a_slower_family_does():
    first = _history(_rows(seed=1), "2026-12-01")
    assert _drifts_since(first, _rows(seed=2)) == []
    drifted = _drifts_since(first, _rows(seed=2, slow_family="decoder", slowdown=1.2))
    assert [drift.key for drift in drifted] == [("cpu", "decoder", "float32")]
    (drift,) = drifted
    assert drift.method == "previous_fit" and drift.p_value <= 0.05
    assert drift.change_pct == pytest.approx(20, abs=4)  # the family's time, not one parameter's swing


def test_parameters_that_trade_against_each_other_are_not_drift():
    """A refit that moves e_compute and the overhead in opposite directions but predicts the same
    times (a flat direction of the fit) is not drift; the same times 20% slower are."""
    work = _rows(seed=3)
    calibration = calibrate(work, bootstrap=50)
    decoder = Group("cpu", "decoder", "float32")
    fitted = calibration.params[decoder]
    rows = work[work["family"] == "decoder"]
    # The previous fit: compute efficiency 30% lower, and an overhead lower by what keeps the
    # family's mean log time where it is.
    moved = _same_time(fitted, rows)
    assert abs(moved.e_compute / fitted.e_compute - 1) > 0.2
    history = pd.DataFrame(
        [{"fitted_at": pd.Timestamp("2026-11-30"), "run_id": "before", "hardware": "cpu", "family": "decoder",
          "dtype": "float32", "parameter": name, "value": getattr(moved, name)}
         for name in ("e_compute", "e_memory", "overhead_s")]
    )  # fmt: skip
    assert drifts(calibration, work, history) == []
    slower = Params(fitted.e_compute / 1.2, fitted.e_memory / 1.2, fitted.overhead_s * 1.2)
    history["value"] = [getattr(slower, name) for name in ("e_compute", "e_memory", "overhead_s")]
    (drift,) = drifts(calibration, work, history)
    assert drift.key == ("cpu", "decoder", "float32") and drift.change_pct == pytest.approx(-100 / 6, abs=0.5)


def _same_time(fitted: Params, rows: pd.DataFrame) -> Params:
    """Parameters with e_compute 30% lower and the overhead chosen so the mean log time is unchanged."""
    from scipy.optimize import brentq

    target = np.mean(np.log(predicted_seconds(fitted, rows)))

    def gap(overhead):
        params = Params(fitted.e_compute * 0.7, fitted.e_memory, overhead)
        return np.mean(np.log(predicted_seconds(params, rows))) - target

    return Params(fitted.e_compute * 0.7, fitted.e_memory, brentq(gap, 1e-12, fitted.overhead_s))


def test_a_step_in_a_familys_time_is_a_change_point():
    def times(fits):
        *stored, now = [np.log(0.1 * (1.25 if day >= 8 else 1.0)) + 0.01 * np.sin(day) for day in range(fits)]
        return [FamilyTime(("cpu", "encoder", "float32"), stored, now, 0.02, 6)]

    appeared = [len(change_points(times(end))) for end in range(8, 17)]
    assert sum(appeared) == 1  # the step is flagged once, at the fit that makes it appear
    (drift,) = change_points(times(8 + appeared.index(1)))
    assert drift.method == "change_point" and drift.change_pct == pytest.approx(25, abs=3)
    assert against_previous(times(7)) == []  # the fit before is on the same side: no jump


def test_a_change_every_family_shares_is_the_hardwares_and_one_family_beyond_it_drifts():
    """Between two collections on a noisy host every family's time moves together (the host's speed,
    a re-measured ceiling): that common change is taken out, and a family that moved beyond it drifts."""

    def times(ratios):
        return [FamilyTime(("cpu", family, "float32"), [0.0], float(np.log(ratio)), 0.01, 6)
                for family, ratio in ratios.items()]  # fmt: skip

    host_faster = {"encoder": 0.9, "decoder": 0.9, "vision": 0.9, "speech/audio": 0.9}
    assert against_previous(times(host_faster)) == []
    (drift,) = against_previous(times({**host_faster, "decoder": 0.9 * 1.2}))
    assert drift.key == ("cpu", "decoder", "float32") and drift.change_pct == pytest.approx(20, abs=0.1)
    assert drift.common_pct == pytest.approx(-10, abs=0.1) and "beyond the hardware's common -10.0%" in drift.describe()
    # With fewer than 3 families nothing is common: a shared change is each family's own.
    assert {d.key[1] for d in against_previous(times({"encoder": 0.8, "decoder": 0.8}))} == {"encoder", "decoder"}


def test_a_step_every_family_shares_is_no_change_point_and_one_familys_own_step_is():
    """A host that became slower from one fit on moves every family's series together: net of that,
    no family has a change point; a step in one family alone (on top of it) is that family's."""
    families = ("encoder", "decoder", "vision", "speech/audio")

    def times(fits, own_step_family=None):
        found = []
        for offset, family in enumerate(families):
            days = range(fits)
            series = [np.log(0.1) + (0.07 if day >= 8 else 0.0) + 0.005 * np.sin(day + offset) for day in days]
            if family == own_step_family:
                series = [value + (0.2 if day >= 10 else 0.0) for day, value in zip(days, series)]
            *stored, now = series
            found.append(FamilyTime(("cpu", family, "float32"), stored, now, 0.01, 6))
        return found

    # With two families on the roof nothing is common: the host's step is a change point in each.
    raw = {drift.key[1] for end in range(8, 17) for drift in change_points(times(end)[:2])}
    assert raw == {"encoder", "decoder"}
    assert not any(change_points(times(end)) for end in range(8, 17))
    flagged = [change_points(times(end, own_step_family="vision")) for end in range(8, 17)]
    assert {drift.key[1] for found in flagged for drift in found} == {"vision"}
    ((drift,),) = [found for found in flagged if found]
    assert drift.change_pct == pytest.approx(22, abs=3)
