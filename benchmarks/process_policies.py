"""How many processes? Replays a `reproducibility.py --json` recording under other process counts.

    .venv/bin/python benchmarks/process_policies.py RECORDING.json [--target 5]

A recording made with `--processes 3 --max-processes M` holds, for every run and model, the
medians and wall times of its processes in the order they ran (3 always, more while the interval
was wider than the target). Any policy "at least a, at most b processes" with a <= 3 and b <= M is
then replayed exactly, without measuring again: its first a processes, plus one at a time while
the interval over them (`bench.levels.between_processes`, the pipeline's own) is wider than the
target. Printed per policy, over every model and run: the coverage (ordered pairs of runs in which
one run's median lies inside the other's interval), the median half-width, the `ok` rate and the
median seconds per verdict (the processes' own wall time, process starts included).

Only the `ours` method of the recording is replayed (the baseline is one process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from mlperf_pipeline.bench.levels import between_processes

RECORDED_MINIMUM = 3


def replay_run(medians: list[float], walls: list[float], least: int, most: int, target_pct: float) -> dict | None:
    """One run under "at least `least`, at most `most` processes"; None if the recording is too short."""
    k = least
    while True:
        if k > len(medians):
            return None
        interval = between_processes(medians[:k])
        if interval.half_width_pct <= target_pct or k >= most:
            break
        k += 1
    return {
        "median": interval.level_ms,
        "low": interval.low_ms,
        "high": interval.high_ms,
        "half_pct": interval.half_width_pct,
        "ok": interval.half_width_pct <= target_pct,
        "wall_s": sum(walls[:k]),
        "processes": k,
    }


def coverage(runs: list[dict]) -> tuple[int, int]:
    """(pairs covered, pairs) over ordered pairs of runs (i, j), i != j, with a median and an
    interval: how often run j's median lies inside run i's interval (`reproducibility.py` too)."""
    covered = pairs = 0
    for i, first in enumerate(runs):
        for j, second in enumerate(runs):
            if i == j or None in (first["low"], first["high"], second["median"]):
                continue
            pairs += 1
            covered += first["low"] <= second["median"] <= first["high"]
    return covered, pairs


def replay(recording: dict, least: int, most: int, target_pct: float) -> dict | None:
    covered = pairs = 0
    replayed = []
    for runs in recording.values():
        measured = [run for run in runs if run.get("processes") and len(run["processes"]) >= RECORDED_MINIMUM]
        model_runs = [replay_run(run["processes"], run["process_walls"], least, most, target_pct) for run in measured]
        if any(run is None for run in model_runs):
            return None
        hits, total = coverage(model_runs)
        covered, pairs = covered + hits, pairs + total
        replayed += model_runs
    if not replayed:
        return None
    return {
        "coverage": covered / pairs if pairs else None,
        "pairs": pairs,
        "half_pct": statistics.median(run["half_pct"] for run in replayed),
        "ok_rate": sum(run["ok"] for run in replayed) / len(replayed),
        "wall_s": statistics.median(run["wall_s"] for run in replayed),
        "max_wall_s": max(run["wall_s"] for run in replayed),
        "processes": statistics.mean(run["processes"] for run in replayed),
        "verdicts": len(replayed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--target", type=float, default=5.0, help="target half-width in percent (default 5)")
    args = parser.parse_args(argv)
    recording = json.loads(args.recording.read_text())["ours"]
    longest = max(len(run.get("processes") or []) for runs in recording.values() for run in runs)
    print(f"{args.recording}: target ±{args.target:g}%, processes recorded up to {longest}")
    print(f"{'policy':<12}{'coverage':>16}{'median ±%':>11}{'ok':>7}{'s/verdict':>11}{'max s':>8}{'mean k':>8}")
    for least in range(2, RECORDED_MINIMUM + 1):
        for most in range(least, longest + 1):
            figures = replay(recording, least, most, args.target)
            if figures is None:
                continue
            cover = f"{figures['coverage']:.0%} of {figures['pairs']}"
            print(
                f"{least}..{most:<9}{cover:>16}{figures['half_pct']:>10.1f}%{figures['ok_rate']:>7.0%}"
                f"{figures['wall_s']:>11.1f}{figures['max_wall_s']:>8.1f}{figures['processes']:>8.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
