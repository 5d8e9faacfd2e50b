"""Per-hardware timing and memory: wall clock on cpu, CUDA events plus a synchronised clock on GPUs."""

from __future__ import annotations

import time

from mlperf_pipeline.hardware.dtypes import TIMED_HARDWARE, can_time


class CpuTimer:
    device = "cpu"

    def __init__(self, device_index: int = 0):
        """`device_index` is ignored (one cpu device); taken so every timer is made alike."""

    def time_call(self, call):
        started = time.perf_counter_ns()
        result = call()
        return (time.perf_counter_ns() - started) / 1e6, result

    def to_device(self, model):
        return model

    def peak_memory_mb(self) -> float:
        return 0.0

    def reset_peak_memory(self) -> None:
        pass

    def synchronize(self) -> None:
        pass


class CudaTimer:
    """CUDA events bracket each call, after a synchronise so no earlier work is queued.

    Event time is the device's own measure of the call; the synchronised wall clock is kept as
    `last_wall_ms` so host-side launch overhead stays visible when it dominates.
    """

    def __init__(self, device_index: int = 0, torch_module=None):
        if torch_module is None:
            import torch as torch_module

        torch = self.torch = torch_module
        self.device = f"cuda:{device_index}"
        torch.cuda.set_device(device_index)
        torch.cuda.reset_peak_memory_stats(device_index)

    def time_call(self, call):
        torch = self.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        wall_started = time.perf_counter_ns()
        start.record()
        result = call()
        end.record()
        torch.cuda.synchronize()
        self.last_wall_ms = (time.perf_counter_ns() - wall_started) / 1e6
        return start.elapsed_time(end), result

    def to_device(self, model):
        model = model.to(self.device)
        self.torch.cuda.synchronize()
        return model

    def peak_memory_mb(self) -> float:
        return self.torch.cuda.max_memory_allocated(self.device) / 2**20

    def reset_peak_memory(self) -> None:
        self.torch.cuda.reset_peak_memory_stats(self.device)

    def synchronize(self) -> None:
        self.torch.cuda.synchronize(self.device)


# The timer of each hardware that `hardware.dtypes` marks as timed, which says which hardware is
# timed: the two must name the same hardware, checked on import. ROCm's torch speaks CUDA.
TIMERS = {"cpu": CpuTimer, "cuda": CudaTimer, "rocm": CudaTimer}
if tuple(TIMERS) != TIMED_HARDWARE:
    raise RuntimeError(f"bench timers {tuple(TIMERS)} disagree with the timed hardware {TIMED_HARDWARE}")


def timer_for(hardware: str, device_index: int = 0):
    if not can_time(hardware):
        raise ValueError(f"no timer for hardware {hardware!r} yet: supported are {', '.join(TIMED_HARDWARE)}")
    return TIMERS[hardware](device_index)
