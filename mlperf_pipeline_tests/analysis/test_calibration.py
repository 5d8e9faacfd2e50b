"""The calibrated roofline on rows made from known parameters, and drift between fits."""

import numpy as np
import pandas as pd
import pytest

from mlperf_pipeline.analysis.calibration import POOLED, Group, Params, calibrate, predicted_seconds
from mlperf_pipeline.analysis.drift import against_previous, change_points, holm
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


def _fit_rows(work, fitted_at):
    return pd.DataFrame(calibrate(work, bootstrap=100).param_rows(pd.Timestamp(fitted_at), fitted_at))


@pytest.mark.slow
def test_an_unchanged_remeasurement_shows_no_drift_and_a_slower_family_does():
    first = _fit_rows(_rows(seed=1), "2026-12-01")
    assert against_previous(first, _fit_rows(_rows(seed=2), "2026-12-02")) == []
    drifted = against_previous(first, _fit_rows(_rows(seed=2, slow_family="decoder", slowdown=1.2), "2026-12-02"))
    assert drifted and {drift.key[1] for drift in drifted} == {"decoder"}
    assert all(drift.method == "previous_fit" and drift.p_value <= 0.05 for drift in drifted)


def test_a_step_in_a_parameters_history_is_a_change_point():
    fits = [{"hardware": "cpu", "family": "encoder", "dtype": "float32", "parameter": "e_compute",
             "fitted_at": pd.Timestamp("2026-11-01") + pd.Timedelta(days=day),
             "value": 0.45 * (0.8 if day >= 8 else 1.0) * np.exp(0.01 * np.sin(day)),
             "ci_low": 0.44, "ci_high": 0.46} for day in range(16)]  # fmt: skip
    appeared = [len(change_points(pd.DataFrame(fits[:end]))) for end in range(8, 17)]
    assert sum(appeared) == 1  # the step is flagged once, at the fit that makes it appear
    (drift,) = change_points(pd.DataFrame(fits[: 8 + appeared.index(1)]))
    assert drift.method == "change_point" and drift.change_pct == pytest.approx(-20, abs=2)
