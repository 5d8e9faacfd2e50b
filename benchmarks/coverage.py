"""Sweep every model type at `tiny` size on cpu: build offline, one forward, outputs finite.

It takes the pipeline's own path (`skillsets.generate.checked_specs`): every shrink rung tried
and every smoke check run in its own process with a wall-clock timeout, forked from a server that
preloaded torch, transformers and the model modules, so a crash or a hang of one type is recorded
and the sweep goes on, and a child starts in milliseconds instead of paying the imports again.

    python benchmarks/coverage.py                       # all 649 types, 2 workers
    python benchmarks/coverage.py --models bert,llava   # a few
    python benchmarks/coverage.py --limit 50 --json out.json
    python benchmarks/coverage.py --skillsets DIR       # also render every skillset module into DIR

`--skillsets` writes the modules the pipeline would generate for cpu, so two checkouts can be
compared byte for byte (`diff -r`): a behaviour-preserving change leaves them identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from mlperf_pipeline.reasons import ReasonCode, Status

# The children must not fight over the two cores: one thread each, no spin-waiting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sweep(
    entries, jobs: int, timeout_s: float, store_path: Path | None, log=None, skillsets_dir: Path | None = None
) -> list[dict]:
    """The pipeline's own path: shrink rungs chosen and smoke-checked in isolated processes."""
    from mlperf_pipeline.skillsets.checks import CheckStore
    from mlperf_pipeline.skillsets.generate import checked_specs
    from mlperf_pipeline.skillsets.isolated import DEFAULT_PRELOAD, IsolatedCalls, model_modules

    preload = (*DEFAULT_PRELOAD, *model_modules(entry.model_class for entry in entries))
    calls = IsolatedCalls(jobs=jobs, timeout_s=timeout_s, preload=preload)
    with tempfile.TemporaryDirectory() as temporary:
        store = CheckStore(store_path or Path(temporary) / "checks.json")
        specs = checked_specs(entries, store, calls, log=log)
    if skillsets_dir is not None:
        write_modules([spec for spec, _ in specs.values()], skillsets_dir)
    results = []
    for entry in entries:
        spec, smoke = specs[entry.model_type]
        results.append(
            {
                "model_type": entry.model_type,
                "status": (Status.OK if smoke["status"] == Status.OK else Status.FAILED).value,
                "family": entry.family,
                "params": smoke.get("params_tiny"),
                "params_full": spec.params.get("full"),
                "reason_code": smoke.get("reason_code"),
                "reason": smoke.get("reason"),
                "seconds": smoke.get("seconds"),
            }
        )
    return results


def write_modules(specs, out_dir: Path) -> None:
    """Render each spec's module (with this host's verdicts) as the pipeline's `skillsets` asset does."""
    from mlperf_pipeline.hardware.detect import inventory
    from mlperf_pipeline.skillsets.generate import generate

    devices = inventory()
    for spec in specs:
        generate(spec, devices["cpu"], out_dir, None, devices)


def summarize(results: list[dict], families: dict[str, str]) -> dict:
    from mlperf_pipeline.report.coverage import coverage_by_family

    by_family = coverage_by_family(
        [{**result, "family": families.get(result["model_type"], "other")} for result in results]
    )
    missing = sum(result["reason_code"] == ReasonCode.MISSING_DEPENDENCY for result in results)
    return {
        "total": len(results),
        "ok": sum(result["status"] == Status.OK for result in results),
        "missing_dependency": missing,
        "by_family": by_family,
    }


def print_report(results: list[dict], families: dict[str, str], wall_s: float, show_failures: bool = True) -> None:
    summary = summarize(results, families)
    codes = sorted({code for counts in summary["by_family"].values() for code in counts} - {"total", Status.OK})
    print(f"\n{'family':<16}{'ok':>5}{'total':>7}  " + "  ".join(codes))
    for family, counts in summary["by_family"].items():
        print(
            f"{family:<16}{counts.get(Status.OK, 0):>5}{counts['total']:>7}  "
            + "  ".join(f"{counts.get(code, 0):>{len(code)}}" for code in codes)
        )
    total, ok = summary["total"], summary["ok"]
    print(f"{'all':<16}{ok:>5}{total:>7}  ({100 * ok / max(total, 1):.1f}% ok)")
    failures = sorted(
        (r for r in results if r["status"] != Status.OK), key=lambda r: (r["reason_code"], r["model_type"])
    )
    if failures and show_failures:
        print(f"\nfailures ({len(failures)}):")
        for result in failures:
            print(
                f"  {result['model_type']:<32} {families.get(result['model_type'], '?'):<15} {result['reason_code']:<19} {result['reason']}"
            )
    print(f"\nmissing optional dependency only: {summary['missing_dependency']} (kept in the denominator)")
    slow = sorted((r for r in results if r.get("seconds")), key=lambda r: -r["seconds"])[:5]
    print("slowest: " + ", ".join(f"{r['model_type']} {r['seconds']:.1f}s" for r in slow))
    big = sorted((r for r in results if r.get("params")), key=lambda r: -r["params"])[:5]
    print("largest tiny: " + ", ".join(f"{r['model_type']} {r['params'] / 1e6:.1f}M" for r in big))
    print(f"wall time: {wall_s:.1f} s for {total} types")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated model types (default: every type with a model class)")
    parser.add_argument("--limit", type=int, help="only the first N types (tier order)")
    parser.add_argument("--jobs", type=int, default=2, help="children at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per type before it counts as a hang")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--json", help="write every result and the summary here")
    parser.add_argument(
        "--store",
        help="keep check outcomes in this JSON file and reuse them (default: a fresh one, so everything runs)",
    )
    parser.add_argument(
        "--skillsets", help="also write every generated skillset module (and its cpu verdict) into this folder"
    )
    parser.add_argument("--quiet", action="store_true", help="no line per failure at the end")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from mlperf_pipeline.catalog.catalog import build_catalog, select

    entries = select(build_catalog(), models=args.models.split(",") if args.models else None)
    entries = entries[: args.limit] if args.limit else entries
    families = {entry.model_type: entry.family for entry in entries}
    print(f"{len(entries)} types, {args.jobs} at a time", flush=True)
    results = sweep(
        entries,
        max(1, args.jobs),
        args.timeout,
        Path(args.store) if args.store else None,
        log=lambda line: print(line, flush=True),
        skillsets_dir=Path(args.skillsets) if args.skillsets else None,
    )
    wall_s = time.perf_counter() - started
    print_report(results, families, wall_s, show_failures=not args.quiet)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summarize(results, families), "wall_s": wall_s, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
