"""The interval over processes and how k processes' records become one row (pure, no process started)."""

import math

import pytest
from scipy.stats import t as student_t

from mlperf_pipeline.bench.levels import between_processes, combine


def _record(median: float, n: int = 12, **extra) -> dict:
    samples = [median * (1 + 0.001 * (i - n // 2)) for i in range(n)]
    return {
        "status": "ok",
        "latency_ms_p50": median,
        "samples": samples,
        "threads": 2,
        "params": 1000,
        "import_s": 1.0,
        "build_s": 0.5,
        "first_call_ms": median * 3,
        "peak_memory_mb": 100.0,
        "cpu_util_pct": 95.0,
        "host_probe_ms": 1.0,
        **extra,
    }


def test_the_interval_is_student_t_over_the_process_medians():
    interval = between_processes([100.0, 102.0, 104.0])
    half = student_t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert interval.level_ms == pytest.approx(102.0)
    assert (interval.low_ms, interval.high_ms) == pytest.approx((102.0 - half, 102.0 + half))
    assert interval.cv_pct == pytest.approx(2.0 / 102.0 * 100)
    assert interval.half_width_pct == pytest.approx(half / 102.0 * 100)
    assert between_processes([100.0]) is None
    with pytest.raises(ValueError, match="positive and finite"):
        between_processes([100.0, float("nan")])


def test_agreeing_processes_give_an_ok_row_centred_on_their_medians():
    row, samples = combine([_record(100.0), _record(101.0, peak_memory_mb=120.0), _record(99.0)], 1, 5.0)
    assert row["status"] == "ok" and row["reason_code"] is None
    assert row["latency_ms_p50"] == pytest.approx(100.0) and row["ci95_low_ms"] < 100.0 < row["ci95_high_ms"]
    assert row["process_medians_ms"] == [100.0, 101.0, 99.0] and row["n_processes"] == 3
    assert row["throughput_per_s"] == pytest.approx(10.0)
    assert row["peak_memory_mb"] == 120.0  # the largest process
    assert row["first_call_ms"] == 300.0  # the median process
    assert row["n_samples"] == 36 and {process for process, _ in samples} == {0, 1, 2}


def test_processes_that_disagree_give_an_invalid_row_that_says_how_much():
    row, _ = combine([_record(157.0), _record(195.0), _record(158.0)], 1, 5.0)
    assert row["status"] == "invalid" and row["reason_code"] == "unstable_between_runs"
    assert "over 3 processes" in row["reason"] and "157, 195, 158 ms" in row["reason"]
    assert row["between_process_cv_pct"] > 10


def test_one_failed_process_fails_the_row_naming_it():
    crashed = {"status": "failed", "reason_code": "crash", "reason": "segmentation fault"}
    row, samples = combine([_record(100.0), crashed, _record(100.0)], 1, 5.0)
    assert (row["status"], row["reason_code"]) == ("failed", "crash")
    assert row["reason"] == "process 2 of 3: segmentation fault" and samples == []
    row, _ = combine([_record(100.0), None], 1, 5.0)
    assert row["reason"] == "process 2 of 2: no result from the benchmark process"


def test_a_single_process_keeps_its_own_verdict():
    row, samples = combine([_record(100.0, status="invalid", reason_code="too_noisy", reason="±3%")], 1, 2.0)
    assert (row["status"], row["reason_code"], row["n_processes"]) == ("invalid", "too_noisy", 1)
    assert "samples" not in row and len(samples) == 12


def test_counts_stay_whole_over_an_even_number_of_processes():
    row, _ = combine([_record(100.0, warmup_n=14), _record(101.0, warmup_n=15)], 1, 5.0)
    assert row["warmup_n"] in (14, 15) and isinstance(row["warmup_n"], int)
