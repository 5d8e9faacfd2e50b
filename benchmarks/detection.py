"""How well do the regression detectors work? Seeded synthetic histories with known changes.

    .venv/bin/python benchmarks/detection.py [--series 1000] [--runs 30] [--seed 0]

Each synthetic series has `--runs` runs. A run's level is a base latency times exp(run jitter +
the injected change); its 3 per-process medians scatter around that level, and the stored level
is their mean, as a `benchmark_job` run stores it. The changes are injected in units of the
series' true run-to-run sigma (that of the stored levels); the detectors are never told it and
estimate it from each series (`analysis/steps.py`; the ratio of their estimate to the truth is
printed). Cells:

- clean: no change, at two noise levels (1% and 8% run-to-run), with process scatter as large as the
  run jitter (a test on raw samples alone would flag most of them);
- heavy-tailed: clean, but the run jitter is Student t with 3 degrees of freedom;
- single outlier: one run mid-history 6 sigma slow, the rest clean;
- improvement: the latest run 5 sigma faster, or a -3 sigma step mid-history;
- latest-run steps of 2 to 6 sigma;
- mid-history steps of 1 to 3 sigma with 10 runs after them;
- slow drifts over the last 15 runs totalling 3 to 7 sigma.

Anomalies (`analysis/anomalies.py`) on the same generator: the share of clean results flagged (1%
and 8% noise, heavy-tailed), and the share of series whose one result injected 3 or 5 sigma off
(at a random run) is flagged.

Printed per cell: the share of series flagged with a slowdown (recall where a slowdown was
injected, false alarms where none was), the detection delay in runs for mid-history steps and
drifts (how many runs after the change began the detector first flags it, evaluating each prefix
of the history), and the targets with their shortfalls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np

from mlperf_pipeline.analysis.anomalies import anomalies_in
from mlperf_pipeline.analysis.steps import History, confirm, detect

PROCESSES = 3


@dataclass(frozen=True)
class Cell:
    name: str
    kind: str  # clean | outlier | improvement_latest | improvement_mid | latest | mid | drift
    size_sigma: float = 0.0
    noise_pct: float = 1.0
    heavy: bool = False
    target: str = ""

    @property
    def injects_slowdown(self) -> bool:
        return self.kind in ("latest", "mid", "drift")


def cells() -> list[Cell]:
    grid = []
    for noise in (1.0, 8.0):
        tag = f" ({noise:g}%)"
        grid += [
            Cell("clean" + tag, "clean", noise_pct=noise, target="false alarms <= 1%"),
            Cell("heavy-tailed" + tag, "clean", noise_pct=noise, heavy=True, target="false alarms <= 1%"),
            Cell("single outlier 6σ" + tag, "outlier", 6.0, noise, target="false alarms <= 1%"),
            Cell("improvement latest -5σ" + tag, "improvement_latest", -5.0, noise, target="false alarms <= 1%"),
            Cell("improvement mid -3σ" + tag, "improvement_mid", -3.0, noise, target="false alarms <= 1%"),
        ]
        grid += [
            Cell(f"latest step {size:g}σ" + tag, "latest", size, noise, target="recall >= 95%" if size >= 4 else "")
            for size in (2.0, 3.0, 4.0, 5.0, 6.0)
        ]
        grid += [
            Cell(f"mid step {size:g}σ, 10 after" + tag, "mid", size, noise, target="recall >= 90%" if size >= 2 else "")
            for size in (1.0, 1.5, 2.0, 3.0)
        ]
        grid += [
            Cell(f"drift {size:g}σ over 15" + tag, "drift", size, noise, target="recall >= 95%" if size >= 5 else "")
            for size in (3.0, 5.0, 7.0)
        ]
    return grid


def synthetic_history(cell: Cell, runs: int, rng: np.random.Generator) -> tuple[History, int, float]:
    """One series: its history, the index of the first changed run (or -1), and its true sigma (log).
    The history has one run more than `runs`: the re-measurement a confirmation would take."""
    runs += 1
    run_sigma = np.log1p(cell.noise_pct / 100.0)
    # Process scatter as large as the run jitter; the stored level is the mean of 3 processes, so the
    # levels' run-to-run sigma is sqrt(run^2 + process^2 / 3).
    process_sigma = run_sigma
    true_sigma = float(np.sqrt(run_sigma**2 + process_sigma**2 / PROCESSES))
    jitter = rng.standard_t(3, runs) / 1.2 if cell.heavy else rng.standard_normal(runs)  # t3: MAD sigma ~1
    shift = np.zeros(runs)
    start = -1
    size = cell.size_sigma * true_sigma
    if cell.kind in ("latest", "improvement_latest"):
        start = runs - 2
        shift[start:] = size
    elif cell.kind in ("mid", "improvement_mid"):
        start = runs - 11
        shift[start:] = size
    elif cell.kind == "drift":
        start = runs - 16
        shift[start:] = size * np.minimum(np.arange(1, 17), 15) / 15.0
    elif cell.kind == "outlier":
        shift[(runs - 1) // 2] = size
    base_ms = 100.0 * np.exp(rng.uniform(-2, 2))
    run_log = np.log(base_ms) + run_sigma * jitter + shift
    process_medians = np.exp(run_log[:, None] + process_sigma * rng.standard_normal((runs, PROCESSES)))
    levels = process_medians.mean(axis=1)
    return History.of(levels, process_medians.tolist()), start, true_sigma


def _called(history: History, end: int, start: int) -> tuple[bool, bool, float | None]:
    """(flagged, called, sigma) for the first `end` runs: a slowdown finding that covers the change
    (from `start` on, or anywhere when none was injected), one that stands (a change point, or a
    `pending` latest-run finding that the next run confirms, `steps.confirm`), and the detectors' sigma."""
    verdict = detect(history.prefix(end))
    findings = [f for f in verdict.slowdowns if start < 0 or f.index >= start - 2]
    called = any(f.method == "change_point" for f in findings) or any(
        confirm(history.prefix(end + 1), f, verdict.sigma) for f in findings if f.method == "latest_run"
    )
    return bool(findings), called, verdict.sigma


def _delay(history: History, start: int, runs: int) -> int | None:
    """Runs after `start` until the first prefix of the history in which the change is called."""
    for end in range(start + 1, runs + 1):
        if _called(history, end, start)[1]:
            return end - 1 - start
    return None


def evaluate(cell: Cell, series: int, runs: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, zlib.crc32(cell.name.encode())])  # stable across processes
    flagged, called, delays, sigma_ratios = 0, 0, [], []
    for _ in range(series):
        history, start, true_sigma = synthetic_history(cell, runs, rng)
        was_flagged, was_called, sigma = _called(history, runs, start if cell.injects_slowdown else -1)
        if sigma is not None:
            sigma_ratios.append(sigma / true_sigma)
        flagged += was_flagged
        called += was_called
        if was_called and cell.kind in ("mid", "drift") and len(delays) < 100:
            delays.append(_delay(history, start, runs))
    return {
        "flagged": flagged / series,
        "called": called / series,
        "delay": statistics.median([d for d in delays if d is not None]) if delays else None,
        "sigma_ratio": statistics.median(sigma_ratios) if sigma_ratios else None,
    }


def _meets(cell: Cell, share: float) -> str:
    if not cell.target:
        return ""
    limit = float(cell.target.split()[-1].rstrip("%")) / 100.0
    ok = share <= limit if "false" in cell.target else share >= limit
    return "met" if ok else f"SHORT ({share:.1%} against {cell.target})"


def _with_outlier(history: History, index: int, factor: float) -> History:
    """The history with run `index` (its level and its processes) `factor` times slower."""
    levels = history.levels_ms.copy()
    levels[index] *= factor
    medians = [
        tuple(m * factor for m in run) if i == index else run for i, run in enumerate(history.process_medians_ms)
    ]
    return History.of(levels, medians)


def _anomalies(history: History) -> tuple[set[int], int]:
    """The anomalous runs' indexes (through `steps.detect`'s change points, as the asset does) and
    how many runs were scored."""
    breaks = [f.index for f in detect(history).findings if f.method == "change_point"]
    found, scored = anomalies_in(history, breaks)
    return {anomaly.index for anomaly in found}, scored


ANOMALY_CELLS = (
    # (name, noise %, heavy-tailed, outlier size in sigma or None, target)
    ("anomalies: clean results (1%)", 1.0, False, None, "flagged <= 1%"),
    ("anomalies: clean results (8%)", 8.0, False, None, "flagged <= 1%"),
    ("anomalies: heavy-tailed results (8%)", 8.0, True, None, ""),
    ("anomalies: one result 3σ off (8%)", 8.0, False, 3.0, ""),
    ("anomalies: one result 5σ off (1%)", 1.0, False, 5.0, "recall >= 90%"),
    ("anomalies: one result 5σ off (8%)", 8.0, False, 5.0, "recall >= 90%"),
    ("anomalies: one result 5σ off, heavy (8%)", 8.0, True, 5.0, ""),
)


def evaluate_anomalies(
    noise: float, heavy: bool, size: float | None, series: int, runs: int, seed: int, name: str
) -> float:
    """For clean cells, the share of results flagged; for an injected outlier, the share of series
    whose outlier is flagged (at a random run, in either place of a segment)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    hits, flagged, scored = 0, 0, 0
    for _ in range(series):
        history, _, true_sigma = synthetic_history(Cell(name, "clean", 0.0, noise, heavy=heavy), runs, rng)
        history = history.prefix(runs)
        if size is None:
            found, count = _anomalies(history)
            flagged += len(found)
            scored += count
        else:
            index = int(rng.integers(0, runs))
            found, _ = _anomalies(_with_outlier(history, index, float(np.exp(size * true_sigma))))
            hits += index in found
    return flagged / max(scored, 1) if size is None else hits / series


def _anomaly_table(series: int, runs: int, seed: int) -> int:
    print(f"\n{'anomaly cell':<44}{'share':>8}  target")
    shortfalls = 0
    for name, noise, heavy, size, target in ANOMALY_CELLS:
        share = evaluate_anomalies(noise, heavy, size, series, runs, seed, name)
        verdict = _meets(Cell(name, "clean", target=target.replace("flagged", "false alarms")), share) if target else ""
        shortfalls += verdict.startswith("SHORT")
        print(f"{name:<44}{share:>8.1%}  {target} {verdict}", flush=True)
    return shortfalls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000, help="synthetic series per cell")
    parser.add_argument("--runs", type=int, default=30, help="runs per series")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"{args.series} series per cell, {args.runs} runs each, seed {args.seed}")
    print(
        "flagged: a slowdown finding in one evaluation of the history (a latest-run one is `pending`);\n"
        "called: a change point, or a pending finding that one more run confirms (what the confirmation\n"
        "sensor does); targets apply to called. delay: runs after a change began until it is called.\n"
    )
    print(f"{'cell':<36}{'flagged':>9}{'called':>8}{'delay':>7}{'σ est/true':>12}  target")
    shortfalls = 0
    for cell in cells():
        figures = evaluate(cell, args.series, args.runs, args.seed)
        delay = f"{figures['delay']:.0f}" if figures["delay"] is not None else "-"
        ratio = f"{figures['sigma_ratio']:.2f}" if figures["sigma_ratio"] is not None else "-"
        verdict = _meets(cell, figures["called"])
        shortfalls += verdict.startswith("SHORT")
        print(
            f"{cell.name:<36}{figures['flagged']:>9.1%}{figures['called']:>8.1%}{delay:>7}{ratio:>12}"
            f"  {cell.target} {verdict}",
            flush=True,
        )
    shortfalls += _anomaly_table(args.series, args.runs, args.seed)
    print(f"\n{shortfalls} target(s) short; {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
