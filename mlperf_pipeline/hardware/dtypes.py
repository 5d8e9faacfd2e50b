"""The dtypes each hardware supports, and whether the bench can time it yet: one table for both.

A skillset's verdict offers a hardware's dtypes only where the bench has a timer for it
(`bench/timers.py` asks `can_time`), so no verdict offers what a benchmark would then reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlperf_pipeline.hardware.detect import HARDWARE


@dataclass(frozen=True)
class HardwareSupport:
    dtypes: tuple[str, ...]  # what the device and torch can run
    timed: bool  # whether bench/timers.py can time it (CUDA events serve cuda and rocm)


SUPPORT: dict[str, HardwareSupport] = {
    "cpu": HardwareSupport(("float32", "bfloat16"), timed=True),
    "cuda": HardwareSupport(("float32", "float16", "bfloat16"), timed=True),
    "rocm": HardwareSupport(("float32", "float16", "bfloat16"), timed=True),
    "mps": HardwareSupport(("float32", "float16"), timed=False),
    "xpu": HardwareSupport(("float32", "float16", "bfloat16"), timed=False),
}
TIMED_HARDWARE: tuple[str, ...] = tuple(hardware for hardware in HARDWARE if SUPPORT[hardware].timed)

# The dtypes a skillset verdict offers on each hardware (a verdict offers none where `can_time` is false).
DTYPES_BY_HARDWARE: dict[str, tuple[str, ...]] = {hardware: support.dtypes for hardware, support in SUPPORT.items()}


def can_time(hardware: str) -> bool:
    return hardware in TIMED_HARDWARE
