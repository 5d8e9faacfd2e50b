"""Measuring a hardware's ceilings (`hardware/ceilings.py`) the way models are measured.

Each of k fresh processes (a new fork server each, so no two share a memory layout) times every
kernel with the stop rule of a multi-process measurement (`stop_rule.stop_rule_for`: warm-up, then
samples until the process's median is within ±2% or its share of the time is spent, at least 5
calls). The processes run one after another under the device lock, with the bench's environment
(threads, OpenMP wait policy, pinned malloc thresholds, huge pages). Each process contributes its
median per kernel; a kernel's rate is its work over the mean of those medians, and its interval
Student's t over them (`levels.between_processes`), the interval a re-measurement falls in.
"""

from __future__ import annotations

import logging
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlperf_pipeline.bench.levels import between_processes
from mlperf_pipeline.bench.stop_rule import MIN_CALLS_PER_PROCESS, WITHIN_PROCESS_TARGET_PCT, StopRule, measure
from mlperf_pipeline.hardware.ceilings import CeilingKernel, ceiling_kernels
from mlperf_pipeline.hardware.dtypes import DTYPES_BY_HARDWARE
from mlperf_pipeline.reasons import Status

log = logging.getLogger(__name__)

# What the measurement method is: a change re-measures every hardware (the asset's code version).
CEILINGS_VERSION = "1"
DEFAULT_PROCESSES = 5  # measured: 3 processes of the same kernel minutes apart differ by 10-20% here
DEFAULT_SECONDS_PER_KERNEL = 1.0  # each process's share: 8 kernels on cpu take ~10 s a process


class CeilingError(RuntimeError):
    """A ceiling could not be measured: a process failed, or a kernel had no usable samples."""


def measure_kernels(item: dict) -> dict:
    """In a benchmark process: every kernel of `item` timed with the stop rule, its median in ms."""
    import torch

    from mlperf_pipeline.bench.timers import timer_for

    torch.set_num_threads(item["threads"])
    timer = timer_for(item["hardware"], item.get("device_index", 0))
    rule = StopRule(
        target_ci_pct=WITHIN_PROCESS_TARGET_PCT, max_seconds=item["max_seconds"], min_calls=MIN_CALLS_PER_PROCESS
    )
    medians = []
    with torch.inference_mode():
        for spec in item["kernels"]:
            call = CeilingKernel(**spec).prepare(timer.device)
            measurement = measure(lambda call=call: timer.time_call(call)[0], rule)
            medians.append({"median_ms": statistics.median(measurement.samples_ms), "n": len(measurement.samples_ms)})
            del call  # free this kernel's tensors before the next allocates its own
    return {"status": Status.OK, "medians": medians}


@dataclass(frozen=True)
class CeilingPlan:
    hardware: str
    threads: int
    processes: int = DEFAULT_PROCESSES
    seconds_per_kernel: float = DEFAULT_SECONDS_PER_KERNEL
    device_index: int = 0
    only: tuple[CeilingKernel, ...] = ()  # these kernels instead of the hardware's full set

    def kernels(self) -> list[CeilingKernel]:
        return list(self.only) or ceiling_kernels(self.hardware, DTYPES_BY_HARDWARE[self.hardware])

    def item(self) -> dict:
        return {
            "hardware": self.hardware,
            "threads": self.threads,
            "device_index": self.device_index,
            "max_seconds": self.seconds_per_kernel,
            "kernels": [kernel.to_dict() for kernel in self.kernels()],
        }


def ceiling_rows(
    plan: CeilingPlan, process_medians: list[list[dict]], *, device_name: str | None, env_fingerprint: str
) -> list[dict]:
    """`hardware_ceilings` rows: each kernel's rate over the processes' medians, with its interval."""
    run_id, measured_at = uuid.uuid4().hex, datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for index, kernel in enumerate(plan.kernels()):
        medians = [medians[index]["median_ms"] for medians in process_medians]
        interval = between_processes(medians) if len(medians) > 1 else None
        level_ms = interval.level_ms if interval else medians[0]
        rows.append(
            {
                "run_id": run_id,
                "measured_at": measured_at,
                "hardware": plan.hardware,
                "device_name": device_name,
                "dtype": kernel.dtype,
                "metric": kernel.metric,
                "value": kernel.work / (level_ms / 1e3),
                "unit": kernel.unit,
                "env_fingerprint": env_fingerprint,
                "threads": plan.threads,
                "size": kernel.size,
                "n_processes": len(medians),
                # A rate is work over time: the slow end of the time interval is the rate's low end.
                # A fast end at or below 0 ms (few, scattered processes) leaves the rate unbounded: empty.
                "ci_low": kernel.work / (interval.high_ms / 1e3) if interval and interval.high_ms > 0 else None,
                "ci_high": kernel.work / (interval.low_ms / 1e3) if interval and interval.low_ms > 0 else None,
            }
        )
    return rows


def measure_ceilings(
    plan: CeilingPlan,
    *,
    lock_dir: Path | None,
    device_name: str | None,
    env_fingerprint: str,
    timeout_s: float = 300.0,
    progress: Callable[[str], None] = log.info,
) -> list[dict]:
    """Measure `plan` in its processes under the device lock; raise `CeilingError` if one fails."""
    from mlperf_pipeline.bench.runner import child_environment
    from mlperf_pipeline.isolation.calls import IsolatedCalls
    from mlperf_pipeline.isolation.device import device_lock

    # Spinning threads are what peers measure and what an idle host runs fastest; a loaded host is
    # caught by the spread between the processes, as a model's measurement is.
    env = child_environment(plan.threads, "ACTIVE")
    process_medians = []
    with device_lock(lock_dir, plan.hardware):
        for process in range(plan.processes):
            calls = IsolatedCalls(jobs=1, timeout_s=timeout_s, preload=["torch"], env=env)
            (result,) = calls.map(measure_kernels, [plan.item()])
            if result.get("status") != Status.OK:
                raise CeilingError(
                    f"{plan.hardware} ceilings: process {process + 1} of {plan.processes} failed: "
                    f"{result.get('reason_code')}: {result.get('reason')}"
                )
            process_medians.append(result["medians"])
            progress(f"{plan.hardware} ceilings: process {process + 1}/{plan.processes} done")
    return ceiling_rows(plan, process_medians, device_name=device_name, env_fingerprint=env_fingerprint)
