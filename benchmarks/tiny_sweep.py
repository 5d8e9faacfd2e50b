"""The whole tiny sweep through Dagster: every model type on cpu, generation and benchmarks timed.

    .venv/bin/python benchmarks/tiny_sweep.py                   # every type, 2 range runs
    .venv/bin/python benchmarks/tiny_sweep.py --limit 40        # the first 40 (tier order)
    .venv/bin/python benchmarks/tiny_sweep.py --home /tmp/sweep # keep the DuckDB file and skillsets

On a throw-away Dagster instance and MLPERF home it registers the catalogue, then:
1. materialises `skillsets` over the full `cpu|...` range twice: cold (every shrink rung and smoke
   check run in isolated processes) and warm (the stored check outcomes reused): generation time;
2. runs `benchmark_job` over the range split into `--runs` contiguous range runs (the `smoke`
   benchmark profile unless told otherwise), one after the other, as the nightly schedule would;
3. prints the wall time, the summed per-model measurement time (each benchmark process's wall time,
   from the materialisation metadata) and the orchestration overhead = wall - measurement.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

started_at = time.monotonic()

import dagster as dg  # noqa: E402

from mlperf_pipeline.catalog.catalog import build_catalog, partition_keys_in_tier_order  # noqa: E402
from mlperf_pipeline.orchestration.assets.skillsets import skillsets  # noqa: E402
from mlperf_pipeline.orchestration.definitions import build_definitions  # noqa: E402
from mlperf_pipeline.orchestration.partitions import range_tags  # noqa: E402
from mlperf_pipeline.orchestration.resources import resources_under  # noqa: E402
from mlperf_pipeline.settings import PROFILE_TAG  # noqa: E402
from mlperf_pipeline.store.results import read_current_results, read_skillset_coverage  # noqa: E402

import_s = time.monotonic() - started_at


def _split(keys: list[str], parts: int) -> list[list[str]]:
    size = -(-len(keys) // max(1, parts))
    return [keys[start : start + size] for start in range(0, len(keys), size)]


def _generate(instance, resources, keys: list[str]) -> tuple[float, bool]:
    started = time.monotonic()
    result = dg.materialize(
        [skillsets],
        instance=instance,
        resources=resources,
        tags=range_tags("cpu", keys[0], keys[-1]),
        raise_on_error=False,
    )
    return time.monotonic() - started, result.success


def _benchmark(instance, job, keys: list[str], profile: str) -> dict:
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance, tags={**range_tags("cpu", keys[0], keys[-1]), PROFILE_TAG: profile}, raise_on_error=False
    )
    wall = time.monotonic() - started
    measured, processes = 0.0, 0
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if event.materialization.asset_key == dg.AssetKey("benchmark_results") and "wall_s" in metadata:
            measured += metadata["wall_s"].value
            processes += 1
    return {
        "keys": len(keys),
        "success": result.success,
        "wall_s": wall,
        "measured_s": measured,
        "processes": processes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N model types (tier order)")
    parser.add_argument(
        "--runs", type=int, default=2, help="contiguous range runs the benchmark sweep is split into (default 2)"
    )
    parser.add_argument("--profile", default="smoke", help="benchmark profile (default: smoke)")
    parser.add_argument("--home", help="MLPERF home to use (default: a temporary folder)")
    parser.add_argument("--generation-only", action="store_true", help="time skillset generation (cold, warm) and stop")
    args = parser.parse_args(argv)

    keys = partition_keys_in_tier_order(build_catalog())
    keys = keys[: args.limit] if args.limit else keys
    with tempfile.TemporaryDirectory() as temporary, dg.instance_for_test() as instance:
        home = Path(args.home or temporary)
        resources = resources_under(home)
        instance.add_dynamic_partitions("model_type", keys)
        instance.add_dynamic_partitions("hardware", ["cpu"])
        print(f"{len(keys)} model types on cpu; imports {import_s:.1f} s; home {home}", flush=True)
        cold_s, cold_ok = _generate(instance, resources, keys)
        print(f"skillsets, cold: {cold_s:.1f} s", flush=True)
        warm_s, warm_ok = _generate(instance, resources, keys)
        print(f"skillsets, warm: {warm_s:.1f} s", flush=True)
        if args.generation_only:
            return 0 if cold_ok and warm_ok else 1
        job = build_definitions(resources).resolve_job_def("benchmark_job")
        runs = []
        for part in _split(keys, args.runs):
            runs.append(_benchmark(instance, job, part, args.profile))
            print(f"benchmark_job {part[0]} ... {part[-1]}: {runs[-1]['wall_s']:.1f} s", flush=True)
        coverage = read_skillset_coverage(home / "results.duckdb")
        current = read_current_results(home / "results.duckdb", hardware="cpu")
    _print_report(len(keys), cold_s, cold_ok, warm_s, warm_ok, runs, coverage, current)
    return 0 if cold_ok and warm_ok and all(run["success"] for run in runs) else 1


def _print_report(n_types: int, cold_s, cold_ok, warm_s, warm_ok, runs, coverage, current) -> None:
    wall = sum(run["wall_s"] for run in runs)
    measured = sum(run["measured_s"] for run in runs)
    overhead = wall - measured
    smoke_ok = int((coverage["status"] == "ok").sum())
    print(f"\n{'step':<34}{'ok':<6}{'wall s':>9}")
    print(f"{'skillsets (cold: checks run)':<34}{str(cold_ok):<6}{cold_s:>9.1f}")
    print(f"{'skillsets (warm: checks reused)':<34}{str(warm_ok):<6}{warm_s:>9.1f}")
    for index, run in enumerate(runs, 1):
        label = f"benchmark_job run {index} ({run['keys']} types)"
        print(f"{label:<34}{str(run['success']):<6}{run['wall_s']:>9.1f}")
    print(f"\nsmoke check: {smoke_ok} of {len(coverage)} types ok ({100 * smoke_ok / max(len(coverage), 1):.1f}%)")
    print(
        "benchmark rows by status: "
        + ", ".join(f"{status} {count}" for status, count in current["status"].value_counts().items())
    )
    print(
        f"benchmark sweep wall time:          {wall:8.1f} s ({wall / 60:.1f} min) for {n_types} types in {len(runs)} range run(s)"
    )
    print(
        f"summed per-model measurement time:  {measured:8.1f} s ({sum(run['processes'] for run in runs)} benchmark processes)"
    )
    print(
        f"orchestration overhead:             {overhead:8.1f} s = {100 * overhead / max(wall, 1e-9):.1f}% of the wall time"
    )
    print(f"generation + sweep (cold):          {(cold_s + wall) / 60:8.1f} min")


if __name__ == "__main__":
    sys.exit(main())
