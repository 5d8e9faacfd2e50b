"""Recommendations: only where the rows support them, each naming its rows."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.analysis import recommendations as rec
from mlperf_pipeline.report.frame import normalise
from mlperf_pipeline_tests.report.conftest import _row


def frame(*rows) -> pd.DataFrame:
    return normalise(pd.DataFrame(list(rows)))


def sweep(points, **fields) -> list[dict]:
    """bert rows at (batch, p50 ms, half-width %) points, each its own run."""
    return [
        _row(
            "bert", "encoder", batch_size=batch, latency_ms_p50=ms, latency_ms_p90=ms * 1.05,
            ci95_low_ms=ms * (1 - pct / 100), ci95_high_ms=ms * (1 + pct / 100), run_id=f"run-b{batch}", **fields,
        )
        for batch, ms, pct in points
    ]  # fmt: skip


def test_the_best_batch_is_named_when_its_interval_is_clear_of_the_others():
    (found,) = rec.best_batches(frame(*sweep([(1, 10.0, 2), (8, 40.0, 2), (32, 200.0, 2)])))
    # 100, 200 and 160 items/s: batch 8 is best and apart from both
    assert found.advice.startswith("batch 8: 200 items/s, clear")
    assert [line.split(":")[0] for line in found.evidence] == ["run run-b1", "run run-b8", "run run-b32"]
    assert "batch 8 · seq 128 · float32 · 2 threads · p50 40 ms" in found.evidence[1]


def test_batches_within_noise_of_the_best_give_the_smallest_not_a_false_winner():
    (found,) = rec.best_batches(frame(*sweep([(1, 10.0, 2), (8, 41.0, 8), (16, 80.0, 8)])))
    # 195 and 200 items/s with ±8%: indistinguishable, so the smaller batch (lower latency) is advised
    assert found.advice.startswith("batch 8: its throughput interval overlaps the best's (batch 16")


def test_one_batch_size_supports_no_batch_advice():
    assert list(rec.best_batches(frame(*sweep([(1, 10.0, 2)])))) == []
    assert list(rec.within_latency_bound(frame(*sweep([(1, 10.0, 2)])), 100.0)) == []


def test_the_latency_bound_picks_the_best_batch_whose_p90_fits_or_says_none_does():
    rows = frame(*sweep([(1, 10.0, 2), (8, 40.0, 2), (32, 200.0, 2)]))
    (fits,) = rec.within_latency_bound(rows, 100.0)
    assert fits.advice.startswith("batch 8: p90 42 ms under the 100 ms bound")
    (none,) = rec.within_latency_bound(rows, 5.0)
    assert none.advice.startswith("no measured batch stays under 5 ms") and none.evidence[0].startswith("run run-b1")
    assert list(rec.within_latency_bound(rows, None)) == []


def test_a_dtype_is_advised_only_when_measured_apart_on_the_same_configuration():
    apart = frame(
        _row("bert", "encoder", dtype="float32", latency_ms_p50=10.0, ci95_low_ms=9.8, ci95_high_ms=10.2),
        _row("bert", "encoder", dtype="bfloat16", latency_ms_p50=6.0, ci95_low_ms=5.9, ci95_high_ms=6.1),
        _row("gpt2", "decoder", dtype="float32", latency_ms_p50=7.0),  # no alternative: no advice
    )
    (found,) = rec.dtypes(apart)
    assert found.advice == "bfloat16: 1.67x faster than float32, the intervals apart" and len(found.evidence) == 2
    overlapping = apart.copy()
    overlapping.loc[1, ["latency_ms_p50", "ci95_low_ms", "ci95_high_ms"]] = [9.7, 9.0, 10.4]
    (found,) = rec.dtypes(overlapping)
    assert "indistinguishable" in found.advice


def test_thread_counts_compare_like_dtypes():
    rows = frame(
        _row("bert", "encoder", threads=1, latency_ms_p50=18.0, ci95_low_ms=17.5, ci95_high_ms=18.5),
        _row("bert", "encoder", threads=2, latency_ms_p50=10.0, ci95_low_ms=9.8, ci95_high_ms=10.2),
    )
    (found,) = rec.thread_counts(rows)
    assert found.advice.startswith("2: 1.8x faster than 1")


def test_unstable_series_are_those_above_the_threshold():
    rows = frame(_row("bert", "encoder", latency_ms_p50=10.0, run_id="bert-last"))
    noise = pd.DataFrame(
        [
            {"hardware": "cpu", "model_type": "bert", "size": "tiny", "batch_size": 1, "dtype": "float32", "noise_pct": 14.0, "n_runs": 6},
            {"hardware": "cpu", "model_type": "gpt2", "size": "tiny", "batch_size": 1, "dtype": "float32", "noise_pct": 3.0, "n_runs": 6},
        ]
    )  # fmt: skip
    (found,) = rec.unstable(rows, noise, threshold_pct=10.0)
    assert found.subject == "bert · cpu · tiny · batch 1 · float32" and "14.0% over 6 runs" in found.advice
    assert found.evidence[0].startswith("run bert-last")
    assert list(rec.unstable(rows, noise, threshold_pct=20.0)) == []


def test_bounds_group_the_types_under_each_roof_and_say_what_follows():
    rows = frame(
        _row("bert", "encoder", bound="memory", roofline_fraction=0.1),
        _row("gpt2", "decoder", bound="memory", roofline_fraction=0.3),
        _row("t5", "encoder-decoder", bound="compute", roofline_fraction=0.6),
        _row("vit", "vision"),  # not counted: no bound, no advice
    )
    compute, memory = rec.bounds(rows)
    assert memory.advice.startswith("memory-bound (2 types: bert, gpt2, a median 20% of the compute roof)")
    assert "a larger batch" in memory.advice and len(memory.evidence) == 2
    assert compute.advice.startswith("compute-bound (1 type: t5")


def test_rows_that_are_not_ok_are_never_evidence():
    rows = frame(
        *sweep([(1, 10.0, 2), (8, 40.0, 2)]),
        _row("bert", "encoder", status="invalid", batch_size=32, latency_ms_p50=50.0),
    )
    found = rec.recommendations(rows, None, 100.0, 10.0)
    assert found and all("batch 32" not in line for item in found for line in item.evidence)
