"""How long the predictor's first count of the whole catalogue takes: every type × its grid, from nothing.

    .venv/bin/python benchmarks/counting.py [--skillsets .mlperf/skillsets] [--sample 16] [--rounds 2]
                                            [--skip-preloads] [--skip-catalogue] [--model-types a,b]

`performance_predictor` counts FLOPs, bytes and operators of every catalogue type at full size (and
at tiny size where a skillset is generated) for batch 1, 8 and 32, seq 128, on the meta device in
isolated processes (`analysis/prediction_grid.py`), and keeps them in `workload_counts`. A fresh
store counts everything once. This prints:

1. a sample of (type, size) pairs counted by fork servers that preload only torch, transformers and
   the runtime (the baseline: what every child imported again before the preload of
   `skillsets/isolated.DEFAULT_PRELOAD`) and by today's, taking turns over `--rounds` rounds, each
   with fresh servers: seconds per pair and the ratio;
2. the whole catalogue counted into a fresh temporary store through `counted()`, as the asset does
   (2 processes at a time): wall time, pairs, pairs per second, and the types that cannot be counted
   by reason; then where the time went: seconds per counting path (meta, meta without the mask,
   real cpu tensors) and the slowest pairs, with their path and parameters;
3. the pairs of (2) that were counted on real cpu tensors by depth (cut to 2, 4 and 6 layers and
   carried to their own depth, `counting.COUNT_DEPTHS`) counted again both ways, the whole model
   (the baseline) and by depth, taking turns over `--rounds` rounds: seconds per pair, the ratio,
   and how far the two ways' FLOPs, bytes and operators differ.

`--model-types` keeps only those types' pairs (the "catalogue" of 2 and 3 is then theirs).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # a pair's deadline
BASELINE_PRELOAD = ("torch", "transformers", "mlperf_pipeline.skillsets.runtime")


def _requests(skillsets_dir: Path):
    from mlperf_pipeline.analysis.prediction_grid import count_requests, skillsets_in
    from mlperf_pipeline.catalog.catalog import build_catalog

    entries = [entry for entry in build_catalog(with_configs=False) if entry.has_model_class]
    return count_requests(entries, skillsets_in(skillsets_dir, "cpu"))


def _count_each(requests, by_depth: bool = True, preload=None) -> tuple[float, list[dict]]:
    """Seconds per pair of counting `requests` (2 processes at a time, fork servers preloading
    `preload`, `isolated.DEFAULT_PRELOAD` by default), and each pair's result in their order."""
    from mlperf_pipeline.skillsets.isolated import IsolatedCalls
    from mlperf_pipeline.skillsets.runtime.counting import count_grid

    preloading = {} if preload is None else {"preload": preload}
    calls = IsolatedCalls(jobs=2, timeout_s=TIMEOUT_S, **preloading)
    items = [{**request.item(), "by_depth": by_depth} for request in requests]
    started = time.perf_counter()
    results = calls.map(count_grid, items)
    return (time.perf_counter() - started) / max(len(requests), 1), results


def compare_preloads(requests, sample: int, rounds: int) -> None:
    from mlperf_pipeline.skillsets.isolated import DEFAULT_PRELOAD

    chosen = random.Random(0).sample(requests, min(sample, len(requests)))
    timings = {"baseline": [], "today": []}
    for _ in range(rounds):
        for name, preload in (("baseline", BASELINE_PRELOAD), ("today", DEFAULT_PRELOAD)):
            timings[name].append(_count_each(chosen, preload=preload)[0])
            print(f"  {name}: {timings[name][-1]:.2f} s a pair", flush=True)
    base, today = statistics.median(timings["baseline"]), statistics.median(timings["today"])
    print(f"\n{len(chosen)} pairs, {rounds} rounds, 2 processes at a time")
    print("| preload | s a pair (median of rounds) | ratio to baseline |\n|---|---|---|")
    print(f"| torch, transformers, runtime (baseline) | {base:.2f} | 1.00 |")
    print(f"| `DEFAULT_PRELOAD` | {today:.2f} | {today / base:.2f} |")


def whole_catalogue(requests) -> list:
    from mlperf_pipeline.analysis.prediction_grid import counted
    from mlperf_pipeline.skillsets.isolated import IsolatedCalls
    from mlperf_pipeline.store.db import connect

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "results.duckdb"
        with connect(db):  # a fresh store, migrated
            pass
        started, pairs = time.perf_counter(), []
        counts = counted(
            db,
            requests,
            IsolatedCalls(jobs=2, timeout_s=TIMEOUT_S),
            progress=lambda line: print(f"  {line}", flush=True),
            on_count=lambda request, result: pairs.append((request, result)),
        )
        wall = time.perf_counter() - started
    sizes = Counter(request.size for request in requests)
    reasons = Counter(
        reason.split(":")[0] + ": " + reason.split(":")[1].strip()[:40] if ":" in reason else reason
        for reason in counts["count_reason"].dropna()
    )
    print(f"\nwhole catalogue: {len(requests)} (type, size) pairs ({sizes['full']} full, {sizes['tiny']} tiny)")
    print("| wall time | pairs a second | grid points | without a count |\n|---|---|---|---|")
    print(
        f"| {wall / 60:.1f} min | {len(requests) / wall:.2f} | {len(counts)} | {counts['count_reason'].notna().sum()} |"
    )
    for reason, n in reasons.most_common(10):
        print(f"  {n:4d}  {reason}")
    where_time_went(pairs)
    return pairs


def _path(result: dict) -> str:
    """The slowest way a pair's batches were counted (a crash or timeout is its reason code)."""
    if result.get("status") != "ok":
        return f"process {result.get('reason_code')}"
    order = ("meta", "meta without mask", "cpu by depth", "cpu extrapolated", "cpu")
    return max(result["paths"].values(), key=order.index)


def where_time_went(pairs, slowest: int = 15) -> None:
    """Seconds each pair's process spent, by path; a timed-out pair spent its whole deadline."""
    timed_out = TIMEOUT_S
    seconds = [
        (result.get("seconds", timed_out if result.get("reason_code") == "timeout" else 0.0), request, result)
        for request, result in pairs
    ]
    by_path: dict[str, list[float]] = {}
    for spent, _, result in seconds:
        by_path.setdefault(_path(result), []).append(spent)
    total = sum(spent for spent, _, _ in seconds) or 1.0
    print("\nprocess seconds by counting path (2 processes at a time: wall is about half)")
    print("| path | pairs | seconds | share | median s a pair |\n|---|---|---|---|---|")
    for path, spent in sorted(by_path.items(), key=lambda item: -sum(item[1])):
        print(
            f"| {path} | {len(spent)} | {sum(spent):.0f} | {sum(spent) / total:.0%} | {statistics.median(spent):.2f} |"
        )
    print(
        f"\nthe {slowest} slowest pairs\n| type | size | batches | path | params | seconds |\n|---|---|---|---|---|---|"
    )
    for spent, request, result in sorted(seconds, key=lambda item: -item[0])[:slowest]:
        params = result.get("params")
        millions = f"{params / 1e6:.0f} M" if params else "-"
        batches = ",".join(str(batch) for batch in request.batches)
        print(f"| {request.model_type} | {request.size} | {batches} | {_path(result)} | {millions} | {spent:.1f} |")


def _largest_difference(whole: dict, by_depth: dict) -> float:
    """The largest relative difference between two results' FLOPs, bytes and operators, over batches."""
    if whole.get("status") != "ok" or by_depth.get("status") != "ok":
        return float("nan")
    differences = [
        abs(by_depth["counts"][batch][name] - fields[name]) / fields[name]
        for batch, fields in whole["counts"].items()
        for name in ("flops", "bytes", "ops")
        if fields.get(name) and by_depth["counts"][batch].get(name) is not None
    ]
    return max(differences, default=float("nan"))


def compare_depths(pairs, rounds: int) -> None:
    """The pairs counted by depth, counted again as whole models (baseline) and by depth, in turns."""
    chosen = [request for request, result in pairs if _path(result) == "cpu by depth"]
    if not chosen:
        print("\nno pair was counted by depth")
        return
    timings: dict[str, list[float]] = {"whole": [], "by depth": []}
    for _ in range(rounds):
        seconds, whole = _count_each(chosen, by_depth=False)
        timings["whole"].append(seconds)
        seconds, by_depth = _count_each(chosen, by_depth=True)
        timings["by depth"].append(seconds)
        print(f"  whole {timings['whole'][-1]:.2f} s a pair, by depth {timings['by depth'][-1]:.2f}", flush=True)
    base, today = statistics.median(timings["whole"]), statistics.median(timings["by depth"])
    differences = [_largest_difference(a, b) for a, b in zip(whole, by_depth)]
    print(f"\n{len(chosen)} pairs counted by depth, {rounds} rounds taken in turn, 2 processes at a time")
    print("| real-cpu count | s a pair (median of rounds) | ratio to baseline |\n|---|---|---|")
    print(f"| the whole model (baseline) | {base:.2f} | 1.00 |")
    print(f"| by depth (2, 4, 6 layers) | {today:.2f} | {today / base:.2f} |")
    compared = [difference for difference in differences if not math.isnan(difference)]
    print(
        f"largest relative difference of FLOPs, bytes or operators: {max(compared, default=float('nan')):.2e}"
        f" (over {len(compared)} pairs both ways counted)"
    )
    print("| type | whole (s) | by depth (s) | largest difference |\n|---|---|---|---|")
    for request, a, b, difference in zip(chosen, whole, by_depth, differences):
        print(f"| {request.model_type} | {a.get('seconds', 0):.1f} | {b.get('seconds', 0):.1f} | {difference:.1e} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skillsets", default=str(ROOT / ".mlperf" / "skillsets"))
    parser.add_argument("--sample", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-catalogue", action="store_true", help="only the preload comparison")
    parser.add_argument("--skip-preloads", action="store_true", help="no preload comparison")
    parser.add_argument("--model-types", help="only these types, comma-separated")
    args = parser.parse_args(argv)
    requests = _requests(Path(args.skillsets))
    if args.model_types:
        wanted = set(args.model_types.split(","))
        unknown = wanted - {request.model_type for request in requests}
        if unknown:
            parser.error(f"--model-types: not in the catalogue (with a model class): {sorted(unknown)}")
        requests = [request for request in requests if request.model_type in wanted]
    if not args.skip_preloads:
        compare_preloads(requests, args.sample, args.rounds)
    if not args.skip_catalogue:
        compare_depths(whole_catalogue(requests), args.rounds)


if __name__ == "__main__":
    sys.exit(main())
