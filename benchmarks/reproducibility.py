"""Do our intervals hold from one run to the next? Ours (k processes) against today's single process.

    .venv/bin/python benchmarks/reproducibility.py [--models bert,gpt2,t5,vit,whisper] [--runs 6] [--processes 3]

Each run measures every model once, full size (`--size`), batch 1, seq 128, the way a `benchmark_job` range
run does (`bench.passes.round_robin` over the models, then `bench.partition.partition_result`),
with a fork server per process slot. Every run starts its own fork servers, as a `benchmark_job`
run does, so no two runs share a parent process. Two methods take turns, run by run, so host drift
falls on both alike:
- ours: `--processes` independent processes per model, the interval over their medians
  (`bench/levels.py`), target `--target` (the default profile's);
- baseline: one process per model, the interval of its own samples (order statistics), target
  ±2%: the method before multi-process measurement.
With `--one-server`, a third method takes its turn: ours with every process forked from one fork
server (`slots=1`), to show whether processes need servers of their own.

Printed per method and model: each run's median and interval; the coverage (over ordered pairs
of runs (i, j), i != j, how often run j's median lies inside run i's interval); the median
half-width; the valid (`ok`) rate; the wall time per verdict. For ours also the honesty ratio:
each half-width over t · s_between / √k (1.0 means nothing was inflated). Two independent estimates
with honest 95% intervals cover each other about 83% of the time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from process_policies import coverage  # this folder is on the path of a script run from it
from scipy.stats import t as student_t

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.partition import PartitionContext, isolated_slices, partition_result, passes_over
from mlperf_pipeline.bench.request import BenchGrid, BenchRequest
from mlperf_pipeline.bench.runner import child_environment
from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.hardware.detect import inventory, usable_cores
from mlperf_pipeline.isolation.forkserver import DEFAULT_SLOTS
from mlperf_pipeline.settings import benchmark_profile
from mlperf_pipeline.sizes import SIZES
from mlperf_pipeline.skillsets.checks import CheckStore
from mlperf_pipeline.skillsets.generate import checked_specs, generate
from mlperf_pipeline.skillsets.isolated import DEFAULT_PRELOAD, IsolatedCalls, model_modules

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BASELINE_TARGET_PCT = 2.0


def measure_run(
    contexts: dict, size: str, processes: int, max_processes: int, target_pct: float, servers: ForkServerPool
) -> dict[str, dict]:
    """One run over every model, as a range run measures it; the first row of each."""
    requests = {
        key: BenchRequest(
            skillset_path=str(context.skillset_path),
            model_type=context.model_type,
            hardware="cpu",
            size=size,
            target_ci_pct=target_pct,
            processes=processes,
            max_processes=max_processes,
        )
        for key, context in contexts.items()
    }

    run_slice = isolated_slices(requests, lock_dir=None, fork_servers=servers, timeout_s=300.0, memory_cap_bytes=None)
    rows, started = {}, time.monotonic()
    partitions = {key: (context, requests[key]) for key, context in contexts.items()}
    for key, slices in passes_over(partitions, requests[next(iter(requests))], run_slice):
        row = partition_result(
            contexts[key], requests[key], slices, lock_dir=None, timeout_s=300.0, memory_cap_bytes=None
        ).rows[0]
        walls = [outcome.wall_s for outcome in slices.outcomes]
        rows[key] = {"row": row, "wall_s": slices.wall_s, "process_walls": walls}
    elapsed = time.monotonic() - started
    for value in rows.values():
        value["run_wall_s"] = elapsed
    return rows


def _run_figures(entry: dict) -> dict:
    row = entry["row"]
    median, low, high = row.latency_ms_p50, row.ci95_low_ms, row.ci95_high_ms
    half = (high - low) / 2 / median * 100 if None not in (median, low, high) else None
    honesty = None
    if row.process_medians_ms and len(row.process_medians_ms) > 1 and half is not None:
        k = len(row.process_medians_ms)
        justified = student_t.ppf(0.975, k - 1) * statistics.stdev(row.process_medians_ms) / math.sqrt(k)
        honesty = (high - low) / 2 / justified if justified else None
    return {
        "median": median,
        "low": low,
        "high": high,
        "half_pct": half,
        "status": row.status,
        "reason": row.reason,
        "wall_s": entry["wall_s"],
        "honesty": honesty,
        "slowdown": row.host_slowdown_pct,
        "remeasured": row.remeasured,
        "processes": row.process_medians_ms,
        "policy": row.omp_wait_policy,
        "build_s": row.build_s,
        "process_walls": entry["process_walls"],
    }


def report(name: str, results: dict[str, list[dict]]) -> dict:
    print(f"\n== {name}")
    print(
        f"{'model':<9}{'run':>4}{'median ms':>11}{'±CI%':>7}{'status':>9}{'wall s':>8}{'probe +%':>9}"
        f"{'policy':>8}{'re':>4}  per-process medians (or reason)"
    )
    totals = {"covered": 0, "pairs": 0, "halves": [], "ok": 0, "rows": 0, "walls": [], "honesty": []}
    for model, runs in results.items():
        for index, run in enumerate(runs):
            half = f"{run['half_pct']:.1f}" if run["half_pct"] is not None else "n/a"
            slowdown = f"{run['slowdown']:.0f}" if run["slowdown"] is not None else "-"
            medians = ", ".join(f"{value:.1f}" for value in run["processes"] or [])
            print(
                f"{model:<9}{index:>4}{run['median'] or math.nan:>11.1f}{half:>7}{run['status']:>9}"
                f"{run['wall_s']:>8.1f}{slowdown:>9}{run['policy'] or '-':>8}{run['remeasured'] or 0:>4}  "
                f"{medians or run['reason'] or ''}"
            )
        covered, pairs = coverage(runs)
        print(f"{model:<9} coverage {covered}/{pairs}" + (f" = {covered / pairs:.0%}" if pairs else ""))
        totals["covered"] += covered
        totals["pairs"] += pairs
        totals["halves"] += [run["half_pct"] for run in runs if run["half_pct"] is not None]
        totals["ok"] += sum(run["status"] == "ok" for run in runs)
        totals["rows"] += len(runs)
        totals["walls"] += [run["wall_s"] for run in runs]
        totals["honesty"] += [run["honesty"] for run in runs if run["honesty"] is not None]
    return totals


def summary_line(name: str, totals: dict) -> str:
    pairs = totals["pairs"]
    cover = f"{totals['covered']}/{pairs} = {totals['covered'] / pairs:.0%}" if pairs else "n/a"
    half = f"±{statistics.median(totals['halves']):.1f}%" if totals["halves"] else "n/a"
    honesty = f"{max(totals['honesty']):.2f}" if totals["honesty"] else "n/a"
    return (
        f"{name:<10} coverage {cover:<16} median half-width {half:<8} ok {totals['ok']}/{totals['rows']:<5}"
        f" wall per verdict {statistics.median(totals['walls']):.1f} s (max {max(totals['walls']):.1f})"
        f"  half-width / justified (max) {honesty}"
    )


@contextlib.contextmanager
def _fresh_servers(classes: list[str], processes: int, slots: int):
    """A run's own fork servers, preloaded before anything is timed (an idle host gets ACTIVE)."""
    with ForkServerPool(lambda policy: child_environment(usable_cores(), policy), classes, slots=slots) as servers:
        servers.start("ACTIVE", processes)
        yield servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="bert,gpt2,t5,vit,whisper")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--processes", type=int, default=benchmark_profile(None)["processes"])
    parser.add_argument(
        "--max-processes",
        type=int,
        default=None,
        help="processes added while the interval is wider than the target, at most this many in all "
        "(default: the default profile's); a recording for benchmarks/process_policies.py",
    )
    parser.add_argument("--target", type=float, default=benchmark_profile(None)["target_ci_pct"])
    parser.add_argument(
        "--one-server", action="store_true", help="also ours with every process forked from one fork server"
    )
    parser.add_argument("--json", help="also write every run's figures here")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    entries = {name: entry_for(name) for name in models}
    classes = sorted({entry.model_class for entry in entries.values()})
    devices = inventory()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        specs = checked_specs(
            list(entries.values()), CheckStore(None), IsolatedCalls(preload=(*DEFAULT_PRELOAD, *model_modules(classes)))
        )
        contexts = {}
        for name, entry in entries.items():
            record = generate(specs[entry.model_type][0], devices["cpu"], Path(work), None, devices)
            contexts[name] = PartitionContext.of_record(record, devices["cpu"], "repro", args.size, "repro")
        cap = BenchGrid(
            processes=args.processes,
            max_processes=args.max_processes or benchmark_profile(None).get("max_processes"),
        ).process_cap
        methods = {"ours": (args.processes, cap, args.target), "baseline": (1, 1, BASELINE_TARGET_PCT)}
        slots = {"ours": DEFAULT_SLOTS, "baseline": DEFAULT_SLOTS}
        if args.one_server:
            methods["one-server"], slots["one-server"] = methods["ours"], 1
        results = {method: {name: [] for name in models} for method in methods}
        print(
            f"{args.runs} runs of {len(models)} models, ours ({args.processes} to {cap} processes,"
            f" target ±{args.target:g}%)"
            f" and baseline (1 process, ±{BASELINE_TARGET_PCT:g}%) taking turns",
            flush=True,
        )
        for run_index in range(args.runs):
            order = list(methods) if run_index % 2 == 0 else list(reversed(methods))
            for method in order:
                with _fresh_servers(classes, methods[method][0], slots[method]) as servers:
                    rows = measure_run(contexts, args.size, *methods[method], servers)
                for name in models:
                    results[method][name].append(_run_figures(rows[name]))
                print(
                    f"  run {run_index} {method}: {rows[models[0]]['run_wall_s']:.0f} s "
                    f"({time.monotonic() - started:.0f} s in all)",
                    flush=True,
                )
                if args.json:  # the raw figures after every run: a crash or a kill must not lose a 20-minute run
                    Path(args.json).write_text(json.dumps(results, indent=1))
    totals = {method: report(method, results[method]) for method in methods}
    print(f"\nsummary ({time.monotonic() - started:.0f} s, {args.runs} runs interleaved)")
    for method, method_totals in totals.items():
        print("  " + summary_line(method, method_totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
