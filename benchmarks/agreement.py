"""Agreement with torch.utils.benchmark: our median against theirs, measured in the same run.

For each architecture (full size, batch 1, default seq 128) and each round, two fresh processes
with the same thread count and OpenMP wait policy: our isolated benchmark (stop rule, validity
verdict) and a reference process timing the same skillset with `torch.utils.benchmark.Timer`.
Rounds alternate which goes first so drift on a shared machine does not favour either.

    .venv/bin/python benchmarks/agreement.py [--models bert,gpt2,t5,vit,whisper] [--rounds 3]

Prints one line per round and a summary: median ratio (ours / reference), how often each tool
judged its own measurement valid, and the wall time each took, process start included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.request import BenchRequest
from mlperf_pipeline.bench.runner import child_environment, run_isolated
from mlperf_pipeline.bench.stats import ci_half_width_pct
from mlperf_pipeline.hardware.detect import inventory, usable_cores
from mlperf_pipeline.skillsets.generate import generate, spec_for

nan = float("nan")

REFERENCE_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import torch
from torch.utils import benchmark
from pathlib import Path
from mlperf_pipeline.skillsets.render import load_skillset_module
path, threads, seq_len, max_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
module = load_skillset_module(Path(path))
model = module.build("full")
inputs = module.inputs(model, 1, seq_len)
with torch.inference_mode():
    for _ in range(3):
        model(**inputs)
    timer = benchmark.Timer(stmt="model(**inputs)", globals={"model": model, "inputs": inputs}, num_threads=threads)
    measurement = timer.adaptive_autorange(threshold=0.02, min_run_time=0.5, max_run_time=max_s)
print(json.dumps({"median_ms": measurement.median * 1000, "iqr_ms": measurement.iqr * 1000,
                  "times_ms": [t * 1000 for t in measurement.times], "number_per_run": measurement.number_per_run,
                  "significant": bool(measurement.has_warnings is False), "wall_s": time.perf_counter() - started}))
"""


def _ours(skillset: str, model_type: str, threads: int, seq_len: int, max_s: float, target_ci_pct: float, lock_dir: Path, fork_servers: ForkServerPool | None) -> dict:
    request = BenchRequest(skillset_path=skillset, model_type=model_type, hardware="cpu", size="full", seq_lens=[seq_len], threads=threads,
                           max_seconds_per_config=max_s, target_ci_pct=target_ci_pct)
    started = time.monotonic()
    outcome = run_isolated(request, lock_dir=lock_dir, timeout_s=300, omp_wait_policy="ACTIVE", fork_servers=fork_servers)
    result = next((r for r in outcome.records if r.get("kind") == "result"), {})
    low, high, median = result.get("ci95_low_ms"), result.get("ci95_high_ms"), result.get("latency_ms_p50")
    ci_pct = 100 * (high - low) / 2 / median if low is not None and high is not None and median else None
    return {"median_ms": median, "valid": result.get("status") == "ok", "status": result.get("status") or outcome.reason_code,
            "reason": result.get("reason") or outcome.reason, "n": result.get("n_samples"), "ci_pct": ci_pct, "wall_s": time.monotonic() - started}


def _reference(skillset: str, threads: int, seq_len: int, max_s: float, target_ci_pct: float) -> dict:
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, skillset, str(threads), str(seq_len), str(max_s)],
                               capture_output=True, text=True, env=child_environment(threads, "ACTIVE"), timeout=600)
    if completed.returncode != 0:
        return {"median_ms": None, "valid": False, "wall_s": time.monotonic() - started, "error": completed.stderr[-300:]}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    # Judged by the same rule as ours (95% order-statistic CI of the median within the target) over
    # its own measurements; its own IQR warning is printed beside it.
    half_width = ci_half_width_pct(result["times_ms"])
    return {**result, "n": len(result["times_ms"]), "ci_pct": half_width, "valid": half_width is not None and half_width <= target_ci_pct,
            "wall_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bert,gpt2,t5,vit,whisper")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time cap per configuration, both tools (default 10: "
                        "a 700 ms call gets ~14 samples, the fewest that can show ±2%% on a quiet machine)")
    parser.add_argument("--target-ci-pct", type=float, default=2.0, help="validity target for both tools: 95%% CI of the median within ±this")
    parser.add_argument("--threads", type=int, default=usable_cores())
    parser.add_argument("--fork-server", action="store_true", help="fork our benchmark processes from a preloaded server, as the pipeline does (its start-up is printed once, not counted per run)")
    args = parser.parse_args()
    devices = inventory()
    rows = []
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as work, ForkServerPool(lambda policy: child_environment(args.threads, policy)) as pool:
        fork_servers = pool if args.fork_server else None
        if fork_servers is not None:
            started = time.monotonic()
            pool.model_classes = sorted({spec_for(name).entry.model_class for name in models})
            pool.get("ACTIVE")
            print(f"fork server started in {time.monotonic() - started:.1f} s (torch, transformers and {len(pool.model_classes)} model modules preloaded)")
        work_dir = Path(work)
        print(f"threads={args.threads} OMP_WAIT_POLICY=ACTIVE (idle host) seq_len={args.seq_len} batch=1 size=full")
        print(f"{'model':<9}{'round':>6}{'ours ms':>10}{'ref ms':>10}{'ratio':>8}{'ours ok':>9}{'±CI%':>7}{'n':>5}{'ref ok':>8}{'±CI%':>7}{'n':>5}"
              f"{'ref IQR warn':>13}{'ours wall s':>13}{'ref wall s':>12}")
        for model_type in models:
            skillset = generate(spec_for(model_type), devices["cpu"], work_dir, None, devices).path
            for round_index in range(args.rounds):
                measure_ours = lambda: _ours(skillset, model_type, args.threads, args.seq_len, args.max_seconds, args.target_ci_pct, work_dir, fork_servers)  # noqa: E731
                measure_reference = lambda: _reference(skillset, args.threads, args.seq_len, args.max_seconds, args.target_ci_pct)  # noqa: E731
                if round_index % 2 == 0:
                    ours, reference = measure_ours(), measure_reference()
                else:
                    reference, ours = measure_reference(), measure_ours()
                ratio = ours["median_ms"] / reference["median_ms"] if ours["median_ms"] and reference["median_ms"] else None
                rows.append({"model": model_type, "ours": ours, "reference": reference, "ratio": ratio})
                print(f"{model_type:<9}{round_index:>6}{ours['median_ms'] or nan:>10.2f}{reference['median_ms'] or nan:>10.2f}"
                      f"{ratio or nan:>8.3f}{str(ours['valid']):>9}{ours.get('ci_pct') or nan:>7.1f}{ours.get('n') or 0:>5}"
                      f"{str(reference['valid']):>8}{reference.get('ci_pct') or nan:>7.1f}{reference.get('n') or 0:>5}"
                      f"{str(not reference.get('significant', False)):>13}{ours['wall_s']:>13.1f}{reference['wall_s']:>12.1f}", flush=True)
    _summary(rows)


def _summary(rows: list[dict]) -> None:
    print("\nsummary (ratio = median of rounds where both measurements were valid by the same rule: 95% CI of the median within the target)")
    for model in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model]
        both_valid = [row["ratio"] for row in mine if row["ratio"] and row["ours"]["valid"] and row["reference"]["valid"]]
        if both_valid:
            median_ratio = statistics.median(both_valid)
            ratio = f"{median_ratio:.3f} ({'within' if 0.95 <= median_ratio <= 1.05 else 'OUTSIDE'} 0.95-1.05)"
        else:
            ratio = "n/a (no round valid for both)"
        print(f"  {model:<9} ratio {ratio:<32} ours valid {sum(r['ours']['valid'] for r in mine)}/{len(mine)}, "
              f"reference valid {sum(r['reference']['valid'] for r in mine)}/{len(mine)}, "
              f"median wall ours {statistics.median(r['ours']['wall_s'] for r in mine):.1f} s, reference {statistics.median(r['reference']['wall_s'] for r in mine):.1f} s")


if __name__ == "__main__":
    main()
