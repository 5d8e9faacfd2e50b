"""Which configurations cannot reach a verdict in their time budget: `skipped: too_slow` before launch.

A verdict over k processes needs `MIN_CALLS_PER_PROCESS` calls in each; a slow model may go on
past its share of `max_seconds_per_config`, but never past `SLOW_CAP_FACTOR` times it. So the
configuration's processes together have at most `max_seconds_per_config × SLOW_CAP_FACTOR` seconds
for k × 5 calls. A call takes at least its FLOPs over the hardware's measured matrix-product peak
(the roofline: a real call is slower, so the estimate only skips what certainly cannot make it).
A configuration whose estimated calls need more than that is skipped with the estimate as its
reason, like `too_large` is before launch: measuring it would spend minutes on a row that ends
`invalid`. Without counts or ceilings nothing is skipped.
"""

from __future__ import annotations

from mlperf_pipeline.analysis.roofline import Roofline
from mlperf_pipeline.bench.stop_rule import MIN_CALLS_PER_PROCESS, StopRule

SLOW_CAP_FACTOR = StopRule().slow_cap_factor


# One process judges by its own samples: the fewest that give the median an interval.
SINGLE_PROCESS_CALLS = 6


def calls_needed(processes: int) -> int:
    return processes * MIN_CALLS_PER_PROCESS if processes > 1 else SINGLE_PROCESS_CALLS


def too_slow(
    flops_by_config: dict[tuple[int, int, str], float],
    roofline: Roofline | None,
    processes: int,
    max_seconds_per_config: float,
) -> dict[tuple[int, int, str], str]:
    """The reason for each (batch, seq, dtype) whose estimated calls exceed the budget."""
    if roofline is None:
        return {}
    budget_s, calls = max_seconds_per_config * SLOW_CAP_FACTOR, calls_needed(processes)
    reasons = {}
    for (batch, seq, dtype), flops in sorted(flops_by_config.items()):
        peak = roofline.peak(dtype)
        if not flops or not peak:
            continue
        call_s = flops / peak
        if call_s * calls > budget_s:
            reasons[(batch, seq, dtype)] = (
                f"estimated ≥ {call_s:.2f} s a call ({flops / 1e9:.0f} GFLOP at the measured {peak / 1e9:.0f} GFLOP/s "
                f"{dtype} peak): {calls} calls need ≥ {call_s * calls:.0f} s, over the {budget_s:.0f} s budget "
                f"(3 × max_seconds_per_config {max_seconds_per_config:g} s); raise max_seconds_per_config to measure it"
            )
    return reasons
