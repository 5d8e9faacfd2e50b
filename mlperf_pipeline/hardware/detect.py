"""Which hardware partitions are present on this host, and what they are."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import psutil

HARDWARE = ("cpu", "cuda", "rocm", "mps", "xpu")


@dataclass
class DeviceInfo:
    hardware: str
    present: bool
    device_names: list[str] = field(default_factory=list)
    memory_bytes: int | None = None
    driver: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def check_hardware(hardware: str) -> str:
    if hardware not in HARDWARE:
        raise ValueError(f"unknown hardware {hardware!r}: expected one of {', '.join(HARDWARE)}")
    return hardware


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _detect_cpu() -> DeviceInfo:
    return DeviceInfo("cpu", True, [cpu_model()], psutil.virtual_memory().total, None, f"{usable_cores()} usable cores")


def _detect_cuda() -> DeviceInfo:
    """Through NVML, so detection needs no CUDA context and no torch import."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as error:
        return DeviceInfo("cuda", False, detail=f"no NVIDIA driver: {type(error).__name__}")
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(count)]
        names = [pynvml.nvmlDeviceGetName(handle) for handle in handles]
        memory = min((pynvml.nvmlDeviceGetMemoryInfo(handle).total for handle in handles), default=None)
        driver = pynvml.nvmlSystemGetDriverVersion()
        return DeviceInfo("cuda", count > 0, [str(name) for name in names], memory, str(driver), f"{count} device(s)")
    finally:
        pynvml.nvmlShutdown()


def _detect_rocm() -> DeviceInfo:
    present = os.path.exists("/dev/kfd")
    return DeviceInfo("rocm", present, detail="/dev/kfd present" if present else "no /dev/kfd")


def _detect_mps() -> DeviceInfo:
    present = platform.system() == "Darwin" and platform.machine() == "arm64"
    return DeviceInfo(
        "mps", present, ["Apple GPU"] if present else [], detail=None if present else "not an Apple silicon Mac"
    )


def _detect_xpu() -> DeviceInfo:
    present = (
        os.path.isdir("/dev/dri")
        and any(name.startswith("renderD") for name in os.listdir("/dev/dri"))
        and _torch_xpu_available()
    )
    return DeviceInfo("xpu", present, detail=None if present else "no Intel XPU visible to torch")


def _torch_xpu_available() -> bool:
    import torch

    return bool(getattr(torch, "xpu", None) and torch.xpu.is_available())


_DETECTORS = {"cpu": _detect_cpu, "cuda": _detect_cuda, "rocm": _detect_rocm, "mps": _detect_mps, "xpu": _detect_xpu}


def detect(hardware: str) -> DeviceInfo:
    return _DETECTORS[check_hardware(hardware)]()


def inventory() -> dict[str, DeviceInfo]:
    return {hardware: detect(hardware) for hardware in HARDWARE}


def present_hardware() -> list[str]:
    return [hardware for hardware, info in inventory().items() if info.present]


def deployment_hardware(present: Iterable[str], configured: Iterable[str], measured: Iterable[str]) -> list[str]:
    """The hardware a deployment has or had, in `HARDWARE` order: what this host detects, what the
    deployment's settings list (hardware that only its workers see, e.g. `cuda` where the daemon host
    has no GPU), and what has measured rows stored (so that a home keeps its history's partitions)."""
    configured = list(configured)
    unknown = [name for name in configured if name not in HARDWARE]
    if unknown:
        raise ValueError(f"settings `hardware`: unknown hardware {unknown}; expected some of {', '.join(HARDWARE)}")
    wanted = set(present) | set(configured) | set(measured)
    return [hardware for hardware in HARDWARE if hardware in wanted]
