"""Configurations too slow for their time budget are skipped before launch (`analysis/budget.py`)."""

from pathlib import Path

from mlperf_pipeline.analysis.budget import too_slow
from mlperf_pipeline.analysis.roofline import Roofline
from mlperf_pipeline.bench.partition import PartitionContext, partition_result, skipped_rows
from mlperf_pipeline.bench.passes import Slices
from mlperf_pipeline.bench.request import BenchGrid
from mlperf_pipeline.bench.runner import ChildOutcome

ROOF = Roofline("cpu", {"float32": 100e9}, 30e9)


def test_a_configuration_whose_calls_cannot_fit_the_budget_is_too_slow():
    flops = {(1, 128, "float32"): 20e9, (8, 128, "float32"): 160e9, (8, 128, "bfloat16"): 160e9}
    # 3 processes x 5 calls; budget 3 x 5 s = 15 s: 0.2 s a call fits, 1.6 s (24 s) does not.
    reasons = too_slow(flops, ROOF, processes=3, max_seconds_per_config=5.0)
    assert set(reasons) == {(8, 128, "float32")}  # no bfloat16 peak measured: no estimate, no skip
    assert (
        "estimated ≥ 1.60 s a call (160 GFLOP at the measured 100 GFLOP/s float32 peak)" in reasons[(8, 128, "float32")]
    )
    assert "15 calls need ≥ 24 s, over the 15 s budget" in reasons[(8, 128, "float32")]
    assert too_slow(flops, ROOF, processes=3, max_seconds_per_config=10.0) == {}  # a larger budget measures it
    assert too_slow(flops, None, processes=3, max_seconds_per_config=5.0) == {}  # no ceilings: no estimate


def _context() -> PartitionContext:
    return PartitionContext(
        hardware="cpu", model_type="bert", family="encoder", device_name="cpu", env_fingerprint="e",
        skillset_hash="h", skillset_path=Path("hf_bert.py"), runnable=True,
    )  # fmt: skip


def test_too_slow_configurations_are_not_launched_and_get_skipped_rows():
    grid = BenchGrid(size="full", batch_sizes=[1, 8], processes=1)
    slow = {(8, 128, "float32"): "estimated ≥ 2 s a call"}
    context = _context().with_too_slow(slow, grid)
    request = context.request(grid)
    assert context.runnable and request.configs() == [(1, 128, "float32")]
    record = {"kind": "result", "batch_size": 1, "seq_len": 128, "dtype": "float32", "status": "ok",
              "latency_ms_p50": 10.0, "samples": [10.0] * 8}  # fmt: skip
    slices = Slices(outcomes=[ChildOutcome(records=[record], exit_code=0)])
    rows = partition_result(context, request, slices, lock_dir=None, timeout_s=10, memory_cap_bytes=None).rows
    assert [(row.batch_size, row.status, row.reason_code) for row in rows] == [
        (1, "ok", None),
        (8, "skipped", "too_slow"),
    ]
    assert rows[1].reason == "estimated ≥ 2 s a call"


def test_a_partition_all_of_whose_configurations_are_too_slow_is_not_runnable():
    grid = BenchGrid(size="full", batch_sizes=[8])
    context = _context().with_too_slow({(8, 128, "float32"): "estimated ≥ 9 s a call"}, grid)
    assert not context.runnable and context.skip_reason_code == "too_slow"
    (row,) = skipped_rows(context, context.request(grid))
    assert (row.status, row.reason_code, row.reason) == ("skipped", "too_slow", "estimated ≥ 9 s a call")
