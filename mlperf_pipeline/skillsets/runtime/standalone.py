"""What `python hf_<type>.py` does: a generated skillset run once from the command line."""

from __future__ import annotations

import json
import time

from mlperf_pipeline.sizes import SIZES
from mlperf_pipeline.skillsets.runtime.build import DTYPES, SkillsetInfo, build_model
from mlperf_pipeline.skillsets.runtime.inputs import make_inputs
from mlperf_pipeline.skillsets.runtime.reasons import is_finite


def run_standalone(
    info: SkillsetInfo, hardware: str, size: str, batch_size: int, seq_len: int, dtype: str, iterations: int
) -> dict:
    """What `python hf_<type>.py` does: build, run a few forwards, report timing and sanity."""
    import torch

    device = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "mps": "mps", "xpu": "xpu"}[hardware]
    started = time.perf_counter()
    model = build_model(info, size, device, dtype)
    build_s = time.perf_counter() - started
    inputs = make_inputs(model, info, batch_size, seq_len, device, dtype)
    latencies_ms = []
    with torch.inference_mode():
        for _ in range(iterations):
            call_started = time.perf_counter()
            output = model(**inputs)
            latencies_ms.append((time.perf_counter() - call_started) * 1000)
    return {
        "model_type": info.model_type,
        "hardware": hardware,
        "size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "build_s": round(build_s, 3),
        "latency_ms_median": round(sorted(latencies_ms)[len(latencies_ms) // 2], 3),
        "iterations": iterations,
        "finite": is_finite(output),
    }


def standalone_main(info: SkillsetInfo, argv: list[str] | None = None) -> int:
    """The entry point a generated skillset calls from `__main__`: prints one JSON result and
    exits non-zero where the output is not finite."""
    import argparse

    from mlperf_pipeline.hardware.detect import HARDWARE  # psutil, only for the command line

    parser = argparse.ArgumentParser(description=f"Run the {info.model_type} skillset once and print a JSON result.")
    parser.add_argument("--hardware", default="cpu", choices=HARDWARE)
    parser.add_argument("--size", default="tiny", choices=SIZES)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    result = run_standalone(info, args.hardware, args.size, args.batch_size, args.seq_len, args.dtype, args.iterations)
    print(json.dumps(result))
    return 0 if result["finite"] else 1
