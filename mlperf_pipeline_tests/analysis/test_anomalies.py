"""Anomalous single results against their series, on seeded histories whose outliers are known."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from mlperf_pipeline.analysis.anomalies import ANOMALY_Z, anomalies_in, anomaly_findings, expected_levels
from mlperf_pipeline.analysis.steps import History, detect
from mlperf_pipeline_tests.analysis.test_regressions import _runs

SIGMA = 0.03


def _history(levels_log: np.ndarray) -> History:
    return History.of(np.exp(levels_log))


def _clean(seed: int, runs: int = 30) -> np.ndarray:
    return np.log(50.0) + SIGMA * np.random.default_rng(seed).standard_normal(runs)


def _breaks(history: History) -> list[int]:
    return [finding.index for finding in detect(history).findings if finding.method == "change_point"]


def test_one_run_far_from_its_series_is_flagged_with_its_expected_level():
    y = _clean(1)
    y[12] += 6 * SIGMA
    history = _history(y)
    found, scored = anomalies_in(history, _breaks(history))
    assert scored == 30
    anomaly = max(found, key=lambda a: abs(a.robust_z))
    assert anomaly.index == 12 and anomaly.robust_z > ANOMALY_Z and len(found) <= 2
    assert anomaly.expected_ms == pytest.approx(50.0, rel=0.03) and anomaly.value_ms > anomaly.expected_ms


def test_a_run_far_faster_than_its_series_is_flagged_too():
    y = _clean(2)
    y[-1] -= 7 * SIGMA
    found, _ = anomalies_in(_history(y), [])
    anomaly = max(found, key=lambda a: abs(a.robust_z))
    assert anomaly.index == 29 and anomaly.robust_z < -ANOMALY_Z


def test_clean_series_have_no_fixed_share_of_anomalies():
    flagged = sum(len(anomalies_in(_history(_clean(seed)), [])[0]) for seed in range(40))
    assert flagged <= 12  # of 1,200 clean runs: 1% would be 12; a fixed 5% contamination 60


def test_a_step_moves_the_expectation_and_does_not_make_later_runs_anomalous():
    y = _clean(3)
    y[15:] += 10 * SIGMA
    history = _history(y)
    breaks = _breaks(history)
    assert breaks == [15]
    assert [a.index for a in anomalies_in(history, breaks)[0] if a.index >= 15] == []
    assert np.allclose(expected_levels(y, breaks)[15:], np.median(y[15:]), atol=2 * SIGMA)


def test_runs_of_a_too_short_segment_are_not_scored():
    y = _clean(4, runs=10)
    assert np.isnan(expected_levels(y, [6])[6:]).all() and not np.isnan(expected_levels(y, [6])[:6]).any()
    with pytest.raises(ValueError, match="positive number of sigmas"):
        anomalies_in(_history(y), [], threshold=0)


def test_anomaly_rows_from_stored_runs_name_their_run_and_series():
    levels = np.exp(_clean(5)).tolist()
    levels[20] *= np.exp(8 * SIGMA)
    frame = pd.DataFrame(_runs(levels) + _runs(levels[:5], model_type="gpt2"))
    rows, counts = anomaly_findings(frame, datetime(2026, 12, 1))
    assert counts["series"] == 2 and counts["insufficient_history"] == 1 and counts["scored_runs"] == 30
    assert counts["anomalies"] == len(rows) >= 1 and counts["slower"] >= 1
    row = max(rows.to_dict("records"), key=lambda r: abs(r["robust_z"]))
    assert (row["model_type"], row["run_id"], row["method"], row["workers"]) == ("bert", "bert-20", "series", 1)
    assert row["robust_z"] > ANOMALY_Z and row["value"] > row["expected"] and row["noise_sigma_pct"] > 0


@pytest.mark.parametrize("size", [6, 7, 30, 31])
def test_leave_one_out_medians_from_one_sort_match_the_plain_ones(size):
    y = np.round(_clean(size, runs=size), 3)  # rounded: ties too
    y[2] = y[3]
    plain = [np.median(np.delete(y, i)) for i in range(size)]
    assert np.allclose(expected_levels(y, []), plain)


def _work(residuals: np.ndarray, families: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    n = residuals.size
    work = pd.DataFrame(
        {
            "hardware": "cpu",
            "model_type": [f"type{i}" for i in range(n)],
            "size": "full",
            "batch_size": 1,
            "seq_len": 128,
            "dtype": "float32",
            "scenario": "latency",
            "workers": 1,
            "run_id": [f"run{i}" for i in range(n)],
            "family": families,
            "seconds": 0.1 * np.exp(residuals),
        }
    )
    return work, np.full(n, 0.1)


def test_the_predictor_flags_a_type_far_from_its_out_of_fold_prediction_not_a_family_it_misses_alike():
    from mlperf_pipeline.analysis.anomalies import predictor_anomalies

    # Family "text": 40 types the predictor misses by +30% alike (within ±8% of that), one of them
    # 2x slower still; family "vision": 6 types missed by ±5% (scored against zero, pooled sigma).
    text = np.log(1.3) + np.linspace(-0.08, 0.08, 40)
    text[7] += np.log(2.0)
    vision = np.linspace(-0.05, 0.05, 6)
    work, predicted = _work(np.concatenate([text, vision]), ["text"] * 40 + ["vision"] * 6)
    found = predictor_anomalies(work, predicted, datetime(2026, 12, 1))
    assert found["model_type"].tolist() == ["type7"] and found["method"].tolist() == ["predictor"]
    assert found["robust_z"].iloc[0] > ANOMALY_Z and found["run_id"].iloc[0] == "run7"
    assert found["expected"].iloc[0] == pytest.approx(100.0 * 1.3, rel=0.05)  # the family's own miss
    # Misses spread evenly within ±8%: nothing flagged (no fixed share).
    calm, predicted = _work(np.linspace(-0.08, 0.08, 46), ["text"] * 46)
    assert predictor_anomalies(calm, predicted, datetime(2026, 12, 1)).empty
