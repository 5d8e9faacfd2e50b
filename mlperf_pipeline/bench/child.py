"""The measured process: builds one skillset and measures every configuration it was asked for.

    python -m mlperf_pipeline.bench.child REQUEST.json RESULTS.jsonl [--worker READY_FD GO_FD]

Phases, each reported separately: import, build, move to device, first call, warm latency (stop
rule), memory pass (one call with the peak reset), count pass (FLOPs, bytes and operators of one
call; these two in the first process only), energy pass (where the hardware has a counter).
Each finished configuration is appended to RESULTS.jsonl and flushed, so a crash later keeps what
was already measured; the parent classifies whatever is missing.

With `--worker`, the process is one of N concurrent workers: it builds and warms up, signals
ready, blocks until the parent says go, then runs for a fixed time (concurrent-throughput scenario).
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from mlperf_pipeline.bench.request import BenchRequest  # noqa: E402
from mlperf_pipeline.skillsets.runtime.reasons import check_finite  # noqa: E402  (torch-free at import)

ENERGY_PASS_MIN_S = 1.0
WORKER_WARMUP_CALLS = 5


def _emit(out, record: dict) -> None:
    out.write(json.dumps(record, default=str) + "\n")
    out.flush()


def classify_error(error: BaseException) -> str:
    """The skillset runtime's classification, except that running out of memory here means the
    process hit its memory cap (`out_of_memory`), not that the model is too large to try. A plain
    `str` (the code's value): it is written to the results file and reaches Dagster metadata."""
    from mlperf_pipeline.reasons import ReasonCode
    from mlperf_pipeline.skillsets.runtime import is_out_of_memory, reason_code

    if is_out_of_memory(error):
        return ReasonCode.OUT_OF_MEMORY.value
    return reason_code(error).value


def _failure(error: BaseException, phase: str) -> dict:
    from mlperf_pipeline.reasons import Status

    message = f"{phase}: {type(error).__name__}: {error}"
    return {
        "status": Status.FAILED.value,
        "reason_code": classify_error(error),
        "reason": message[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def _configure_threads(request: BenchRequest) -> int:
    import torch

    from mlperf_pipeline.hardware.detect import usable_cores

    threads = request.threads or usable_cores()
    torch.set_num_threads(threads)  # intra-op: the cores given to this benchmark
    return threads


class Workload:
    """One model and one input set: a checked, timed call."""

    def __init__(self, module, model, timer, batch: int, seq: int, dtype: str):
        self.model, self.timer = model, timer
        self.inputs = module.inputs(model, batch, seq, timer.device, dtype)

    def forward(self):
        return self.model(**self.inputs)

    def call(self):
        output = self.forward()
        check_finite(output)
        return output

    def timed(self) -> float:
        elapsed_ms, output = self.timer.time_call(self.forward)
        check_finite(output)  # every measured call is checked, after the clock stops
        return elapsed_ms


def sequence_length_used(inputs: dict, requested: int) -> int | None:
    """The token length the model really saw: capped by its position limit, grown by image tokens,
    and none at all for inputs without a sequence (pixels, fixed-size audio features)."""
    for name in ("input_ids", "inputs_embeds", "decoder_input_ids"):
        if name in inputs and getattr(inputs[name], "ndim", 0) >= 2:
            return int(inputs[name].shape[1])
    return requested if "input_values" in inputs else None


def _foreign_load_pct(system_busy_pct: float, own_cpu_pct: float, cores: int) -> float:
    """Busy share of the host not explained by the measured process, in percent of all cores."""
    return max(0.0, system_busy_pct - own_cpu_pct / max(cores, 1))


def _latency_phase(
    timed_call, request: BenchRequest, hardware_trackers: list, started: float
) -> tuple[dict, list[float]]:
    import psutil

    from mlperf_pipeline.bench.probe import host_probe_ms
    from mlperf_pipeline.bench.stop_rule import measure, stop_rule_for
    from mlperf_pipeline.bench.trackers import CpuUtilTracker, start_all, stop_all

    trackers = [CpuUtilTracker(), *hardware_trackers]
    probe_before = host_probe_ms()
    psutil.cpu_percent(None)
    start_all(trackers)
    measurement = measure(timed_call, stop_rule_for(request), started=started)
    fields = stop_all(trackers)
    # The slower of the two readings: an episode that began or ended during sampling still shows.
    fields["host_probe_ms"] = max(probe_before, host_probe_ms())
    system_busy = psutil.cpu_percent(None)
    fields.pop("energy_j", None)  # energy comes from its own pass, over a known number of calls
    fields["foreign_load_pct"] = _foreign_load_pct(
        system_busy, fields.get("cpu_util_pct", 0.0), psutil.cpu_count() or 1
    )
    row = {
        **measurement.summary(),
        "status": measurement.status,
        "reason_code": measurement.reason_code,
        "reason": measurement.reason,
        **fields,
    }
    return row, measurement.samples_ms


def _memory_pass(workload: Workload) -> dict:
    from mlperf_pipeline.bench.trackers import PeakRssTracker

    tracker = PeakRssTracker()
    workload.timer.reset_peak_memory()
    tracker.start()
    output = workload.forward()
    workload.timer.synchronize()
    fields = tracker.stop()
    check_finite(output)  # after the peak is read: the check's own buffers are not the model's
    device_peak = workload.timer.peak_memory_mb()
    if device_peak:
        fields["peak_memory_mb"] = device_peak  # on a GPU the device memory is the scarce one
    return fields


def _count_pass(workload: Workload) -> dict:
    """FLOPs, bytes and operators of one forward of the measured model on its own inputs, after
    the timing (a counted call runs slower), in the process that also runs the memory pass."""
    from mlperf_pipeline.skillsets.runtime.counting import count_forward

    return count_forward(workload.model, workload.inputs).fields()


def _energy_pass(workload: Workload, energy_trackers: list) -> dict:
    """Joules per call, over as many calls as fill ENERGY_PASS_MIN_S (counters tick coarsely)."""
    from mlperf_pipeline.bench.trackers import start_all, stop_all

    if not energy_trackers:
        return {}
    calls, started = 0, time.perf_counter()
    start_all(energy_trackers)
    while calls == 0 or time.perf_counter() - started < ENERGY_PASS_MIN_S:
        output = workload.forward()
        calls += 1
    workload.timer.synchronize()
    energy = stop_all(energy_trackers).get("energy_j")
    check_finite(output)
    return {"energy_j": energy / calls} if energy is not None else {}


def _measure_config(
    module, model, timer, request: BenchRequest, batch: int, seq: int, dtype: str, gate=None
) -> tuple[dict, list[float]]:
    import torch

    from mlperf_pipeline.bench.trackers import energy_trackers_for, utilisation_trackers_for
    from mlperf_pipeline.bench.turns import gated

    workload = Workload(module, model, timer, batch, seq, dtype)
    timed_call = gated(workload.timed, gate, rewarm=workload.call)
    with torch.inference_mode():
        # The first call is warm-up too: the configuration's time share runs from before it
        # (full-size bert: ~0.2 s of a 1.67 s share), so it is not paid on top of the share.
        started = time.perf_counter()
        first_call_ms = timed_call()
        row, samples = _latency_phase(
            timed_call, request, utilisation_trackers_for(request.hardware, request.device_index), started
        )
        if gate is not None:
            row["sample_turns"] = gate.call_turns[-len(samples) :]
        if request.memory_pass:
            row.update(_memory_pass(workload))
            row.update(_count_pass(workload))
        row.update(_energy_pass(workload, energy_trackers_for(request.hardware, request.device_index)))
    median = row.get("latency_ms_p50")
    row.update(
        effective_seq_len=sequence_length_used(workload.inputs, seq),
        first_call_ms=first_call_ms,
        throughput_per_s=batch * 1000.0 / median if median else None,
    )
    return row, samples


def _build(module, request: BenchRequest, timer, dtype: str):
    started = time.perf_counter()
    model = module.build(request.size, "cpu", dtype)
    built = time.perf_counter()
    model = timer.to_device(model)
    return model, {"build_s": built - started, "to_device_s": time.perf_counter() - built}


def _load(request: BenchRequest, process_started: float):
    from mlperf_pipeline.bench.timers import timer_for
    from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module
    from mlperf_pipeline.skillsets.runtime import model_class

    threads = _configure_threads(request)
    module = load_skillset_module(Path(request.skillset_path))
    if hasattr(module, "INFO"):
        # The model's own modules load lazily on first use: touching the class counts them here.
        model_class(module.INFO)
    phases = {"import_s": time.perf_counter() - process_started, "threads": threads}
    return module, timer_for(request.hardware, request.device_index), phases


def run(request: BenchRequest, out, process_started: float) -> None:
    from mlperf_pipeline.bench.turns import TurnGate

    module, timer, phases = _load(request, process_started)
    gate = TurnGate.from_environment()  # only when compared against a reference, turn by turn
    current_dtype, model = None, None
    for batch, seq, dtype in request.configs():
        config = {"batch_size": batch, "seq_len": seq, "dtype": dtype}
        try:
            if dtype != current_dtype:
                model, build_phases = _build(module, request, timer, dtype)
                phases.update(build_phases)
                current_dtype = dtype
            row, samples = _measure_config(module, model, timer, request, batch, seq, dtype, gate)
            row["params"] = sum(parameter.numel() for parameter in model.parameters())
            _emit(out, {"kind": "result", **config, **phases, **row, "samples": samples})
        except Exception as error:
            _emit(
                out,
                {"kind": "result", **config, **phases, **_failure(error, "measure" if model is not None else "build")},
            )
            if isinstance(error, MemoryError):
                raise


def run_worker(
    request: BenchRequest, out, process_started: float, ready_fd: int, go_fd: int, duration_s: float
) -> None:
    """One concurrent worker: first configuration of the grid, fixed duration after a shared start."""
    import torch

    module, timer, phases = _load(request, process_started)
    batch, seq, dtype = request.configs()[0]
    model, build_phases = _build(module, request, timer, dtype)
    workload = Workload(module, model, timer, batch, seq, dtype)
    latencies: list[float] = []
    with torch.inference_mode():
        for _ in range(WORKER_WARMUP_CALLS):
            workload.call()
        os.write(ready_fd, b"r")
        os.read(go_fd, 1)  # blocks in the kernel until every worker is ready
        started = time.perf_counter()
        while time.perf_counter() - started < duration_s:
            latencies.append(workload.timed())
        elapsed = time.perf_counter() - started
    _emit(
        out,
        {
            "kind": "worker",
            "batch_size": batch,
            "seq_len": sequence_length_used(workload.inputs, seq),
            "dtype": dtype,
            "calls": len(latencies),
            "elapsed_s": elapsed,
            "samples": latencies,
            **phases,
            **build_phases,
        },
    )


def main(argv: list[str], process_started: float | None = None) -> int:
    process_started = process_started or time.perf_counter()
    request = BenchRequest.load(argv[0])
    with open(argv[1], "a") as out:
        _emit(out, {"kind": "started", "pid": os.getpid()})
        if len(argv) > 2 and argv[2] == "--worker":
            ready_fd, go_fd = int(argv[3]), int(argv[4])
            try:
                run_worker(request, out, process_started, ready_fd, go_fd, float(argv[5]))
            except Exception as error:
                _emit(out, {"kind": "worker", **_failure(error, "worker")})
                os.write(ready_fd, b"r")  # never leave the others waiting at the barrier
        else:
            run(request, out, process_started)
        _emit(out, {"kind": "finished"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], PROCESS_STARTED))
