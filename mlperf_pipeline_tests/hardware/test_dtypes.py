"""One table says which dtypes each hardware supports and whether it can be timed; verdicts and timers agree."""

import pytest

from mlperf_pipeline.bench import timers
from mlperf_pipeline.hardware.detect import HARDWARE
from mlperf_pipeline.hardware.dtypes import DTYPES_BY_HARDWARE, SUPPORT, TIMED_HARDWARE, can_time


def _spec():
    from mlperf_pipeline.skillsets.spec import SkillsetSpec

    return SkillsetSpec(
        entry=None, tiny_overrides={}, params={"tiny": 1_000, "full": 1_000_000}, transformers_version="x"
    )


def test_one_row_per_hardware_partition_in_partition_order():
    assert tuple(SUPPORT) == HARDWARE == tuple(DTYPES_BY_HARDWARE)
    assert TIMED_HARDWARE == ("cpu", "cuda", "rocm")


def test_the_timers_are_those_of_the_timed_hardware():
    assert tuple(timers.TIMERS) == TIMED_HARDWARE
    for hardware in HARDWARE:
        if not can_time(hardware):
            with pytest.raises(
                ValueError, match=f"no timer for hardware '{hardware}' yet: supported are cpu, cuda, rocm"
            ):
                timers.timer_for(hardware)
    assert isinstance(timers.timer_for("cpu"), timers.CpuTimer)


@pytest.mark.parametrize("hardware", HARDWARE)
def test_a_verdict_offers_only_dtypes_the_timers_can_measure(hardware):
    from mlperf_pipeline.skillsets.spec import verdict_for

    verdict = verdict_for(_spec(), hardware, present=True, memory_bytes=None)
    assert set(verdict.dtypes) <= set(SUPPORT[hardware].dtypes)
    if can_time(hardware):
        assert verdict.dtypes == SUPPORT[hardware].dtypes and "float32" in verdict.dtypes
    else:  # present but not measurable: every size says why, so no benchmark is attempted
        assert verdict.dtypes == () and not verdict.runnable("tiny") and not verdict.runnable("full")
        assert set(verdict.sizes.values()) == {"unsupported_hardware"} and hardware in verdict.reason


def test_the_timed_dtypes_are_unchanged():
    # What cpu, cuda and rocm verdicts offered before the table moved (every generated module holds them).
    assert DTYPES_BY_HARDWARE["cpu"] == ("float32", "bfloat16")
    assert DTYPES_BY_HARDWARE["cuda"] == DTYPES_BY_HARDWARE["rocm"] == ("float32", "float16", "bfloat16")
