"""Trackers: memory, energy and utilisation around a measured phase, each behind the same small interface.

`start()` before the phase, `stop()` after it returns a dict of result-row fields. A tracker whose
source is not readable on this host returns nothing rather than a made-up number.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def release_free_heap() -> None:
    """Give freed heap pages back to the kernel (glibc's malloc_trim); a no-op without glibc.

    Benchmark processes keep freed memory (see `runner.PINNED_MALLOC_TUNABLES`), so without this
    the resident set before a phase would still hold every earlier phase's buffers.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # no C library by that name (musl, macOS, Windows)
        pass


class PeakRssTracker:
    """Peak resident memory of this process during the phase.

    Linux keeps a high-water mark (VmHWM) that writing 5 to /proc/self/clear_refs resets, so the
    peak belongs to the phase, not to everything the process did before it. Freed heap is handed
    back first, so that it does not count either.
    """

    def __init__(self, proc_root: Path = Path("/proc/self")):
        self.proc_root = proc_root
        self.resettable = True

    def start(self) -> None:
        release_free_heap()
        try:
            (self.proc_root / "clear_refs").write_text("5")
        except OSError:
            self.resettable = False

    def stop(self) -> dict:
        try:
            for line in (self.proc_root / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return {"peak_memory_mb": int(line.split()[1]) / 1024}
        except OSError:
            pass
        return {}


class RaplEnergyTracker:
    """CPU package energy from the powercap sysfs tree (Intel RAPL, also on recent AMD).

    `sysfs_root` is injectable so the arithmetic (several packages, counter wrap-around) can be
    tested against a fake tree on hosts without RAPL.
    """

    def __init__(self, sysfs_root: Path = Path("/sys/class/powercap")):
        self.zones = sorted(
            path for path in sysfs_root.glob("intel-rapl:*") if ":" in path.name and path.name.count(":") == 1
        )
        self.readings: dict[Path, int] = {}

    @property
    def available(self) -> bool:
        return bool(self.zones) and all((zone / "energy_uj").is_file() for zone in self.zones)

    def _read(self, zone: Path, name: str) -> int | None:
        try:
            return int((zone / name).read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        self.readings = {zone: value for zone in self.zones if (value := self._read(zone, "energy_uj")) is not None}

    def stop(self) -> dict:
        if not self.readings:
            return {}
        total_uj = 0
        for zone, before in self.readings.items():
            after = self._read(zone, "energy_uj")
            if after is None:
                return {}
            if after < before:  # the counter wrapped
                after += self._read(zone, "max_energy_range_uj") or 0
            total_uj += after - before
        return {"energy_j": total_uj / 1e6}


class NvmlTracker:
    """GPU energy (NVML's counter), this process's GPU memory and sampled utilisation.

    Devices are addressed by NVML index; the runner sets CUDA_DEVICE_ORDER=PCI_BUS_ID so that
    torch's index means the same device.
    """

    SAMPLE_INTERVAL_S = 0.1

    def __init__(self, device_index: int, nvml=None):
        if nvml is None:
            import pynvml as nvml

        self.nvml = nvml
        nvml.nvmlInit()
        self.handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        self.energy_before_mj: int | None = None
        self.utilisation: list[float] = []
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def _sample(self) -> None:
        # Waits on an event, so the sampler sleeps between readings instead of spinning.
        while not self._stop.wait(self.SAMPLE_INTERVAL_S):
            self.utilisation.append(float(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu))

    def start(self) -> None:
        self.energy_before_mj = self._energy_mj()
        self.utilisation.clear()
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _energy_mj(self) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception:  # older GPUs have no energy counter
            return None

    def _process_memory_mb(self) -> float | None:
        import os

        for process in self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
            if process.pid == os.getpid() and process.usedGpuMemory is not None:
                return process.usedGpuMemory / 2**20
        return None

    def stop(self) -> dict:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        fields: dict = {}
        after = self._energy_mj()
        if after is not None and self.energy_before_mj is not None:
            fields["energy_j"] = (after - self.energy_before_mj) / 1000
        if self.utilisation:
            fields["gpu_util_pct"] = sum(self.utilisation) / len(self.utilisation)
        memory = self._process_memory_mb()
        if memory is not None:
            fields["nvml_memory_mb"] = memory
        return fields


class CpuUtilTracker:
    """This process's CPU use over the phase, in percent of one core (psutil, no sampling thread)."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()

    def start(self) -> None:
        self.process.cpu_percent(None)

    def stop(self) -> dict:
        return {"cpu_util_pct": self.process.cpu_percent(None)}


def system_busy_pct(interval_s: float = 0.25) -> float:
    """CPU use of everything else on the host, in percent of all cores, over `interval_s`.

    Measured before a benchmark starts, so foreign load is recorded rather than silently absorbed.
    """
    import psutil

    return psutil.cpu_percent(interval=interval_s)


def _nvml_or_none(device_index: int) -> NvmlTracker | None:
    try:
        return NvmlTracker(device_index)
    except Exception as error:
        log.warning("NVML unavailable, no GPU energy or utilisation: %s", error)
        return None


def utilisation_trackers_for(hardware: str, device_index: int = 0) -> list:
    """Sampled while latency is measured (CPU use is tracked for every hardware by the caller)."""
    if hardware == "cuda":
        return [tracker] if (tracker := _nvml_or_none(device_index)) else []
    return []


def energy_trackers_for(
    hardware: str, device_index: int = 0, powercap_root: Path = Path("/sys/class/powercap")
) -> list:
    if hardware == "cpu":
        rapl = RaplEnergyTracker(powercap_root)
        return [rapl] if rapl.available else []
    if hardware == "cuda":
        return [tracker] if (tracker := _nvml_or_none(device_index)) else []
    return []


def start_all(trackers: list) -> None:
    for tracker in trackers:
        tracker.start()


def stop_all(trackers: list) -> dict:
    fields: dict = {}
    for tracker in reversed(trackers):
        fields.update(tracker.stop())
    return fields
