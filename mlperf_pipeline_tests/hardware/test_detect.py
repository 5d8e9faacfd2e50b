"""Hardware detection on this host: cpu is always there; absent hardware says why; bad names fail clearly."""

import os

import psutil
import pytest

from mlperf_pipeline.hardware import detect as detect_module
from mlperf_pipeline.hardware.detect import HARDWARE, DeviceInfo, check_hardware, detect, inventory, present_hardware


def test_cpu_is_present_with_its_memory_cores_and_model():
    cpu = detect("cpu")
    assert cpu.hardware == "cpu" and cpu.present
    assert cpu.memory_bytes == psutil.virtual_memory().total > 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert detect_module.usable_cores() == cores >= 1
    assert cpu.detail == f"{cores} usable cores"
    assert cpu.device_names == [detect_module.cpu_model()] and cpu.device_names[0]


def test_inventory_covers_every_partition_and_every_absent_one_says_why():
    devices = inventory()
    assert list(devices) == list(HARDWARE) == ["cpu", "cuda", "rocm", "mps", "xpu"]
    assert "cpu" in present_hardware()
    assert present_hardware() == [hardware for hardware, info in devices.items() if info.present]
    for hardware, info in devices.items():
        assert info.hardware == hardware
        if not info.present:
            assert info.detail, f"{hardware} is absent without a reason"
            assert info.device_names == []


def test_absent_rocm_and_mps_are_reported_with_a_reason(monkeypatch):
    monkeypatch.setattr(detect_module.os.path, "exists", lambda path: False)
    monkeypatch.setattr(detect_module.platform, "system", lambda: "Linux")
    assert detect("rocm") == DeviceInfo("rocm", False, detail="no /dev/kfd")
    assert detect("mps") == DeviceInfo("mps", False, detail="not an Apple silicon Mac")


def test_absent_xpu_is_reported_without_importing_torch(monkeypatch):
    monkeypatch.setattr(detect_module.os.path, "isdir", lambda path: False)
    monkeypatch.setattr(detect_module, "_torch_xpu_available", lambda: pytest.fail("torch asked without /dev/dri"))
    info = detect("xpu")
    assert not info.present and info.detail == "no Intel XPU visible to torch"


def test_cuda_without_a_driver_is_absent_naming_the_error(monkeypatch):
    pynvml = pytest.importorskip("pynvml")

    def no_driver():
        raise pynvml.NVMLError_LibraryNotFound()

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    info = detect("cuda")
    assert not info.present and info.device_names == []
    assert info.detail == "no NVIDIA driver: NVMLError_LibraryNotFound"


@pytest.mark.parametrize("name", ["tpu", "CPU", "", "cuda:0"])
def test_unknown_hardware_is_refused_naming_it_and_the_choices(name):
    with pytest.raises(ValueError, match=rf"unknown hardware {name!r}: expected one of cpu, cuda, rocm, mps, xpu"):
        detect(name)
    with pytest.raises(ValueError, match="unknown hardware"):
        check_hardware(name)
    assert check_hardware("cpu") == "cpu"


def test_device_info_is_plain_data():
    info = detect("cpu")
    assert DeviceInfo(**info.to_dict()) == info
