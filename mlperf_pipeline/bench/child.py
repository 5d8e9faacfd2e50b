"""The measured process: builds one skillset and measures every configuration it was asked for.

Run as `python -m mlperf_pipeline.bench.child REQUEST.json RESULTS.jsonl`. Each finished
configuration is appended to RESULTS.jsonl and flushed, so a crash later in the process keeps
what was already measured; the parent classifies whatever is missing.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

PROCESS_STARTED = time.perf_counter()

from mlperf_pipeline.bench.request import BenchRequest  # noqa: E402


class NonFiniteOutput(Exception):
    pass


def _emit(out, record: dict) -> None:
    out.write(json.dumps(record, default=str) + "\n")
    out.flush()


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _classify(error: BaseException) -> str:
    from mlperf_pipeline.skillsets.runtime import UnsupportedInputs

    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return "out_of_memory"
    if isinstance(error, UnsupportedInputs):
        return "unsupported_inputs"
    if isinstance(error, NonFiniteOutput):
        return "non_finite_output"
    if isinstance(error, ImportError):
        return "missing_dependency"
    return "library_error"


def _failure(error: BaseException, phase: str) -> dict:
    message = f"{phase}: {type(error).__name__}: {error}"
    return {"status": "failed", "reason_code": _classify(error), "reason": message[:2000], "traceback": traceback.format_exc()[-4000:]}


def _configure_threads(request: BenchRequest) -> int:
    import torch

    from mlperf_pipeline.hardware.detect import usable_cores

    threads = request.threads or usable_cores()
    torch.set_num_threads(threads)
    return threads


def _check_finite(output) -> None:
    import torch

    from mlperf_pipeline.skillsets.runtime import first_tensor

    tensor = first_tensor(output)
    if tensor is not None and tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise NonFiniteOutput("model output holds NaN or inf")


def _measure_config(module, model, timer, request: BenchRequest, batch: int, seq: int, dtype: str) -> tuple[dict, list[float]]:
    import psutil
    import torch

    from mlperf_pipeline.bench.stop_rule import StopRule, measure

    inputs = module.inputs(model, batch, seq, timer.device, dtype)
    with torch.inference_mode():
        first_call_ms, output = timer.time_call(lambda: model(**inputs))
        _check_finite(output)

        def timed_call() -> float:
            elapsed_ms, result = timer.time_call(lambda: model(**inputs))
            _check_finite(result)
            return elapsed_ms

        process = psutil.Process()
        process.cpu_percent(None)
        rule = StopRule(target_ci_pct=request.target_ci_pct, max_seconds=request.max_seconds_per_config)
        measurement = measure(timed_call, rule)
        cpu_util = process.cpu_percent(None)
    summary = measurement.summary()
    median = summary.get("latency_ms_p50")
    from mlperf_pipeline.skillsets.runtime import effective_seq_len

    row = {
        **summary,
        "effective_seq_len": effective_seq_len(model.config, seq),
        "status": measurement.status,
        "reason_code": measurement.reason_code,
        "reason": measurement.reason,
        "first_call_ms": first_call_ms,
        "throughput_per_s": batch * 1000.0 / median if median else None,
        "peak_memory_mb": max(_peak_rss_mb(), timer.peak_memory_mb()),
        "cpu_util_pct": cpu_util,
    }
    return row, measurement.samples_ms


def run(request: BenchRequest, out) -> None:
    from mlperf_pipeline.bench.timers import timer_for

    from mlperf_pipeline.skillsets.render import load_skillset_module
    from mlperf_pipeline.skillsets.runtime import model_class

    threads = _configure_threads(request)
    module = load_skillset_module(Path(request.skillset_path))
    if hasattr(module, "INFO"):
        # The model's own modules load lazily on first use: touching the class counts them here.
        model_class(module.INFO)
    phases = {"import_s": time.perf_counter() - PROCESS_STARTED, "threads": threads}
    timer = timer_for(request.hardware, request.device_index)
    current_dtype = None
    model = None
    for batch, seq, dtype in request.configs():
        config = {"batch_size": batch, "seq_len": seq, "dtype": dtype}
        try:
            if dtype != current_dtype:
                model, build_phases = _build(module, request, timer, dtype)
                phases.update(build_phases)
                current_dtype = dtype
            row, samples = _measure_config(module, model, timer, request, batch, seq, dtype)
            row["params"] = sum(parameter.numel() for parameter in model.parameters())
            _emit(out, {"kind": "result", **config, **phases, **row, "samples": samples})
        except Exception as error:
            _emit(out, {"kind": "result", **config, **phases, **_failure(error, "measure" if model is not None else "build")})
            if isinstance(error, MemoryError):
                raise


def _build(module, request: BenchRequest, timer, dtype: str):
    started = time.perf_counter()
    model = module.build(request.size, "cpu", dtype)
    built = time.perf_counter()
    model = timer.to_device(model)
    return model, {"build_s": built - started, "to_device_s": time.perf_counter() - built}


def main(argv: list[str]) -> int:
    request_path, results_path = argv
    request = BenchRequest.load(request_path)
    with open(results_path, "a") as out:
        _emit(out, {"kind": "started", "pid": os.getpid()})
        run(request, out)
        _emit(out, {"kind": "finished"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
