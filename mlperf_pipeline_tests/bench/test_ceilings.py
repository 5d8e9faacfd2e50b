"""Measuring ceilings in isolated processes (`bench/ceilings.py`) and the kernels' work (`hardware/ceilings.py`)."""

import pytest

from mlperf_pipeline.bench.ceilings import CeilingError, CeilingPlan, ceiling_rows, measure_ceilings
from mlperf_pipeline.hardware.ceilings import STREAM_BYTES, CeilingKernel, ceiling_kernels

SMALL = (
    CeilingKernel("matmul_flops", "float32", 64, "FLOP/s"),
    CeilingKernel("copy_bandwidth", "float32", 2**20, "B/s"),
    CeilingKernel("triad_bandwidth", "float32", 2**20, "B/s"),
)


def test_each_kernel_does_its_stated_work():
    product, copy, triad = SMALL
    assert product.work == 2 * 64**3
    assert copy.work == 2 * 2**20 and triad.work == 3 * 2**20  # read one write one; read two write one


def test_cpu_measures_a_product_per_dtype_and_side_then_two_bandwidths():
    kernels = ceiling_kernels("cpu", ("float32", "bfloat16"))
    assert [(k.metric, k.dtype, k.size) for k in kernels[:3]] == [
        ("matmul_flops", "float32", side) for side in (256, 512, 1024)
    ]
    assert {k.dtype for k in kernels if k.metric == "matmul_flops"} == {"float32", "bfloat16"}
    assert [(k.metric, k.size) for k in kernels[-2:]] == [
        ("copy_bandwidth", STREAM_BYTES),
        ("triad_bandwidth", STREAM_BYTES),
    ]


def test_a_rate_is_the_work_over_the_mean_process_median_with_an_interval_over_processes():
    plan = CeilingPlan("cpu", threads=2, processes=3, only=SMALL[:1])
    rows = ceiling_rows(
        plan, [[{"median_ms": 1.0}], [{"median_ms": 1.1}], [{"median_ms": 0.9}]], device_name="cpu", env_fingerprint="e"
    )
    (row,) = rows
    assert row["value"] == pytest.approx(2 * 64**3 / 1e-3)
    assert row["ci_low"] < row["value"] < row["ci_high"]
    assert (row["n_processes"], row["threads"], row["size"], row["unit"]) == (3, 2, 64, "FLOP/s")


@pytest.mark.slow
def test_ceilings_are_measured_in_separate_processes(tmp_path):
    plan = CeilingPlan("cpu", threads=1, processes=2, seconds_per_kernel=0.05, only=SMALL)
    rows = measure_ceilings(plan, lock_dir=tmp_path / "locks", device_name="cpu", env_fingerprint="e")
    assert [row["metric"] for row in rows] == ["matmul_flops", "copy_bandwidth", "triad_bandwidth"]
    assert all(row["value"] > 0 and row["n_processes"] == 2 and row["ci_low"] <= row["value"] for row in rows)
    # Two processes give a wide t interval: its fast end may reach 0 ms, an unbounded rate (empty).
    assert all(row["ci_high"] is None or row["ci_high"] >= row["value"] for row in rows)
    assert len({row["run_id"] for row in rows}) == 1


@pytest.mark.slow
def test_a_kernel_that_cannot_run_fails_the_measurement_by_name(tmp_path):
    plan = CeilingPlan(
        "cpu", threads=1, processes=2, only=(CeilingKernel("matmul_flops", "no_such_dtype", 8, "FLOP/s"),)
    )
    with pytest.raises(
        CeilingError, match=r"cpu ceilings: process 1 of 2 failed: crash: AttributeError.*no_such_dtype"
    ):
        measure_ceilings(plan, lock_dir=tmp_path / "locks", device_name="cpu", env_fingerprint="e")
