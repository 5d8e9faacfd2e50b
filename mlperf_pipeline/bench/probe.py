"""The host-speed probe: a fixed small kernel timed beside the model, to see host slow-downs.

This host has episodes of tens of seconds in which everything runs up to 60% slower, and no
in-VM load figure sees them (the foreign load stays under 1%): the slow-down comes from outside
the VM. A kernel whose cost never changes (a 256 × 256 float32 matrix product, on the threads the
model uses) is timed before and after each configuration's latency phase; when it is slower than
the fastest reading of the run, the host was slower too, and the parent re-measures that
process's slice or flags the row (`bench/passes.py`).
"""

from __future__ import annotations

import statistics
import time

PROBE_SIDE = 256
PROBE_PRODUCTS = 8  # products per timing: ~2 ms on two cores, long enough to time, short enough to ignore
PROBE_TIMINGS = 5


def host_probe_ms(timings: int = PROBE_TIMINGS) -> float:
    """Median milliseconds of PROBE_PRODUCTS matrix products (after one untimed product)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    left = torch.rand(PROBE_SIDE, PROBE_SIDE, generator=generator)
    right = torch.rand(PROBE_SIDE, PROBE_SIDE, generator=generator)
    readings = []
    with torch.inference_mode():
        torch.mm(left, right)
        for _ in range(timings):
            started = time.perf_counter_ns()
            for _ in range(PROBE_PRODUCTS):
                torch.mm(left, right)
            readings.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(readings)


def slowdown_pct(reading_ms: float | None, reference_ms: float | None) -> float | None:
    """How much slower than the reference a reading is, in percent (0 when faster); None if unknown."""
    if reading_ms is None or not reference_ms:
        return None
    return max(0.0, (reading_ms / reference_ms - 1.0) * 100.0)
