"""Trackers against what this host has, and against fake sources where the hardware cannot exist here."""

import os
import platform
from types import SimpleNamespace

import pytest

from mlperf_pipeline.bench.child import _foreign_load_pct
from mlperf_pipeline.bench.runner import child_environment
from mlperf_pipeline.bench.timers import CpuTimer, CudaTimer, timer_for
from mlperf_pipeline.bench.trackers import NvmlTracker, PeakRssTracker, RaplEnergyTracker, energy_trackers_for


def _fake_powercap(root, zones):
    for name, (energy, max_range) in zones.items():
        zone = root / name
        zone.mkdir(parents=True)
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return root


def test_rapl_sums_packages_and_survives_counter_wrap(tmp_path):
    root = _fake_powercap(tmp_path, {"intel-rapl:0": (1_000_000, 10_000_000), "intel-rapl:1": (9_900_000, 10_000_000)})
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone (core), already counted in its package
    tracker = RaplEnergyTracker(root)
    assert tracker.available and len(tracker.zones) == 2
    tracker.start()
    (root / "intel-rapl:0" / "energy_uj").write_text("3500000")  # +2.5 J
    (root / "intel-rapl:1" / "energy_uj").write_text("400000")  # wrapped: +0.5 J
    assert tracker.stop() == {"energy_j": pytest.approx(3.0)}


def test_no_rapl_tree_means_no_energy_rather_than_a_made_up_number(tmp_path):
    assert energy_trackers_for("cpu", powercap_root=tmp_path) == []
    tracker = RaplEnergyTracker(tmp_path)
    tracker.start()
    assert tracker.stop() == {}


def test_peak_rss_belongs_to_the_phase_after_a_reset():
    tracker = PeakRssTracker()
    hog = bytearray(200 * 2**20)
    for index in range(0, len(hog), 4096):
        hog[index] = 1
    del hog
    tracker.start()
    assert tracker.resettable
    assert tracker.stop()["peak_memory_mb"] < 150 + _rss_mb()


def _rss_mb():
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class FakeNvml:
    """Stands in for the NVIDIA driver, which cannot exist on this host."""

    def __init__(self):
        self.energy_mj = 5_000
        self.utilisation = 80

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self.energy_mj

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self.utilisation)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=1, usedGpuMemory=1), SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * 2**20)]


def test_nvml_tracker_reports_energy_utilisation_and_this_process_memory():
    nvml = FakeNvml()
    tracker = NvmlTracker(0, nvml=nvml)
    tracker.SAMPLE_INTERVAL_S = 0.01
    tracker.start()
    nvml.energy_mj += 2_500
    import time

    time.sleep(0.1)
    fields = tracker.stop()
    assert fields["energy_j"] == pytest.approx(2.5)
    assert fields["gpu_util_pct"] == pytest.approx(80)
    assert fields["nvml_memory_mb"] == pytest.approx(512)


class FakeCuda:
    """torch.cuda's timing surface, for the code path a GPU would take."""

    def __init__(self):
        self.synchronized = 0
        self.current = None

    class Event:
        clock = 0.0

        def __init__(self, enable_timing):
            self.time = None

        def record(self):
            FakeCuda.Event.clock += 7.5
            self.time = FakeCuda.Event.clock

        def elapsed_time(self, end):
            return end.time - self.time

    def set_device(self, index):
        self.current = index

    def reset_peak_memory_stats(self, device):
        pass

    def synchronize(self, device=None):
        self.synchronized += 1

    def max_memory_allocated(self, device):
        return 3 * 2**20


def test_cuda_timer_brackets_calls_with_events_after_a_synchronise():
    fake_torch = SimpleNamespace(cuda=FakeCuda())
    timer = CudaTimer(1, torch_module=fake_torch)
    elapsed, result = timer.time_call(lambda: "output")
    assert (elapsed, result) == (7.5, "output")
    assert fake_torch.cuda.synchronized == 2 and fake_torch.cuda.current == 1 and timer.device == "cuda:1"
    assert timer.peak_memory_mb() == 3 and timer.last_wall_ms >= 0


def test_timer_choice_and_device_order():
    assert isinstance(timer_for("cpu"), CpuTimer)
    with pytest.raises(ValueError, match="mps"):
        timer_for("mps")
    env = child_environment(threads=3, omp_wait_policy="PASSIVE")
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" and env["OMP_NUM_THREADS"] == "3" and env["HF_HUB_OFFLINE"] == "1"


def test_foreign_load_discounts_the_measured_process():
    assert _foreign_load_pct(system_busy_pct=50.0, own_cpu_pct=100.0, cores=2) == 0.0
    assert _foreign_load_pct(system_busy_pct=100.0, own_cpu_pct=100.0, cores=2) == 50.0


def test_stored_sequence_length_is_the_one_the_model_saw():
    import torch

    from mlperf_pipeline.bench.child import sequence_length_used

    assert sequence_length_used({"input_ids": torch.zeros(1, 77), "pixel_values": torch.zeros(1, 3, 8, 8)}, 128) == 77
    assert sequence_length_used({"pixel_values": torch.zeros(1, 3, 8, 8)}, 128) is None
    assert sequence_length_used({"input_values": torch.zeros(1, 4096)}, 16) == 16


def test_wait_policy_is_chosen_from_the_load_and_can_be_pinned():
    from mlperf_pipeline.bench.runner import choose_wait_policy

    assert choose_wait_policy("auto", load_before_pct=2.0) == "ACTIVE"
    assert choose_wait_policy("auto", load_before_pct=60.0) == "PASSIVE"
    assert choose_wait_policy("PASSIVE", load_before_pct=0.0) == "PASSIVE"
    with pytest.raises(ValueError, match="omp_wait_policy"):
        choose_wait_policy("SPIN", 0.0)


def test_benchmark_processes_pin_each_malloc_threshold_the_caller_did_not_set(monkeypatch):
    pinned = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=1073741824"
    for own, expected in [
        (None, pinned),
        ("", pinned),
        ("glibc.cpu.x86_shstk=off", f"glibc.cpu.x86_shstk=off:{pinned}"),
        ("glibc.malloc.arena_max=1", f"glibc.malloc.arena_max=1:{pinned}"),
        ("glibc.malloc.trim_threshold=0", "glibc.malloc.trim_threshold=0:glibc.malloc.mmap_threshold=1073741824"),
    ]:
        if own is None:
            monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
        else:
            monkeypatch.setenv("GLIBC_TUNABLES", own)
        assert child_environment(2, "ACTIVE")["GLIBC_TUNABLES"] == expected, own


ALLOCATION_CYCLES = """
import json, os, resource
from mlperf_pipeline.bench.trackers import PeakRssTracker
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    bytearray(40 * 2**20)  # zero-filled from malloc; 40 MiB is above the largest threshold glibc adapts to itself (32 MiB)
before = faults()
for _ in range(10):
    bytearray(40 * 2**20)
per_cycle = (faults() - before) / 10
hog = bytearray(200 * 2**20)  # freed at once: kept by the process when malloc is pinned
del hog
rss_before_mb = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
tracker = PeakRssTracker()
tracker.start()
print(json.dumps({"faults_per_cycle": per_cycle, "rss_before_mb": rss_before_mb, "phase_peak_mb": tracker.stop()["peak_memory_mb"]}))
"""


def _allocation_cycles(env: dict) -> dict:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", ALLOCATION_CYCLES], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _huge_pages_always() -> bool:
    try:
        return "[always]" in open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the pinned thresholds are glibc tunables; other C libraries ignore them"
)
def test_pinned_malloc_stops_buffers_faulting_in_again_on_every_call(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    if (
        not _huge_pages_always()
    ):  # with huge pages always on, a fresh 40 MiB mapping faults in ~20 huge pages, not 10,240
        adaptive = {key: value for key, value in child_environment(2, "ACTIVE").items() if key != "GLIBC_TUNABLES"}
        assert _allocation_cycles(adaptive)["faults_per_cycle"] > 5000  # 40 MiB mapped and faulted in each time
    pinned = _allocation_cycles(child_environment(2, "ACTIVE"))
    assert pinned["faults_per_cycle"] < 100
    # The freed 200 MiB stays resident, but the memory pass hands it back before it measures.
    assert pinned["rss_before_mb"] > pinned["phase_peak_mb"] + 150
