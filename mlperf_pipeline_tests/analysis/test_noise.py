"""Run-to-run noise: the pure estimate, and its agreement with the store's `series_noise` view."""

from __future__ import annotations

import math
import statistics
from datetime import datetime

import pandas as pd
import pytest

from mlperf_pipeline.analysis.noise import MIN_RUNS, noise_per_series, run_to_run_noise
from mlperf_pipeline.store.results import read_results_history, read_series_noise, write_partition_results
from mlperf_pipeline_tests.store.factories import result_row

# One run's latency of each series, in run order; None is a failed run (a crash: no latency).
TWO_RUNS = [10.0, 11.0]
WITH_FAILURES = [20.0, 21.0, None, 19.0, 22.0, None, 20.0]
WITH_OUTLIER = [100.0, 101.0, 99.0, 102.0, 98.0, 100.0, 300.0]  # one run in a slow host episode


def test_noise_is_the_scaled_mad_of_the_run_medians_relative_to_their_median():
    noise = run_to_run_noise([98.0, 100.0, 101.0, 104.0, 97.0])
    # median 100; deviations 2, 0, 1, 4, 3 -> MAD 2
    assert noise.level_ms == 100.0 and noise.n_runs == 5
    assert noise.noise_pct == pytest.approx(1.4826 * 2 / 100 * 100)


def test_an_outlier_run_barely_moves_the_noise_unlike_a_standard_deviation():
    noise = run_to_run_noise(WITH_OUTLIER)
    assert noise.level_ms == 100.0
    assert noise.noise_pct == pytest.approx(1.4826)  # MAD 1: the 300 ms run is one deviation of seven
    assert statistics.stdev(WITH_OUTLIER) / statistics.mean(WITH_OUTLIER) * 100 > 50


@pytest.mark.parametrize("medians", [[10.0], [10.0, 12.0]])
def test_fewer_than_three_runs_give_a_level_but_no_noise(medians):
    noise = run_to_run_noise(medians)
    assert MIN_RUNS == 3
    assert noise.noise_pct is None and noise.n_runs == len(medians)
    assert noise.level_ms == statistics.median(medians)


def test_identical_runs_have_zero_noise():
    assert run_to_run_noise([5.0, 5.0, 5.0]).noise_pct == 0.0


@pytest.mark.parametrize("bad", [0.0, -3.0, math.nan, math.inf])
def test_a_median_that_is_no_latency_is_refused_by_value(bad):
    with pytest.raises(ValueError, match=f"per-run median {bad!r}"):
        run_to_run_noise([10.0, bad, 11.0])


def test_no_runs_at_all_is_refused():
    with pytest.raises(ValueError, match="no runs"):
        run_to_run_noise([])


def _write_history(db_path, model_type: str, latencies: list[float | None], **fields) -> None:
    """Each latency as one run of the series, a day apart, each its own Dagster run."""
    for day, latency in enumerate(latencies):
        failed = {"status": "failed", "reason_code": "crash"}
        measured = {"latency_ms_p50": latency} if latency is not None else {"latency_ms_p50": None, **failed}
        row = result_row(model_type, run_id=f"bench-{day}", measured_at=datetime(2025, 1, 1 + day, 12), **measured)
        row.update(fields)
        write_partition_results(
            db_path, [row], [], dagster_run_id=f"{model_type}-{day}", hardware="cpu", model_type=model_type
        )


@pytest.fixture
def history_db(tmp_path):
    db_path = tmp_path / "store" / "results.duckdb"
    _write_history(db_path, "bert", TWO_RUNS)
    _write_history(db_path, "gpt2", WITH_FAILURES)
    _write_history(db_path, "t5", WITH_OUTLIER)
    return db_path


def test_the_view_and_the_pure_function_agree_on_stored_history(history_db):
    view = read_series_noise(history_db)
    computed = noise_per_series(read_results_history(history_db))
    pd.testing.assert_frame_equal(view, computed, check_dtype=False)


def test_the_view_counts_measured_runs_only_and_needs_three_of_them(history_db):
    view = read_series_noise(history_db).set_index("model_type")
    assert view.loc["bert", "n_runs"] == 2 and pd.isna(view.loc["bert", "noise_pct"])
    assert view.loc["bert", "level_ms"] == pytest.approx(10.5)
    assert view.loc["gpt2", "n_runs"] == 5  # the two crashed runs are not runs of the series
    assert view.loc["gpt2", "noise_pct"] == pytest.approx(1.4826 * 1 / 20 * 100)
    assert view.loc["t5", "noise_pct"] == pytest.approx(1.4826)
    assert view.loc["t5", "first_measured_at"] == pd.Timestamp("2025-01-01 12:00")
    assert view.loc["t5", "last_measured_at"] == pd.Timestamp("2025-01-07 12:00")


def test_invalid_rows_are_runs_and_failed_ones_are_not_even_with_a_latency(tmp_path):
    db_path = tmp_path / "results.duckdb"
    _write_history(db_path, "bert", [10.0, 10.2, 9.9], status="invalid", reason_code="too_noisy")
    _write_history(db_path, "gpt2", [500.0, 510.0, 490.0], status="failed", reason_code="crash")
    _write_history(db_path, "retired_type", [7.0, 7.1, 7.2])  # no longer catalogued: its history still counts
    expected = {"bert": 3, "retired_type": 3}
    for noise in (read_series_noise(db_path), noise_per_series(read_results_history(db_path))):
        assert dict(zip(noise["model_type"], noise["n_runs"])) == expected
