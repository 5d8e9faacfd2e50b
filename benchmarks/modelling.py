"""How well do the roofline and the predictor model what was measured? Held out by architecture.

    .venv/bin/python benchmarks/modelling.py --db .mlperf/results.duckdb [--rerun-db R.duckdb]

Reads a results store that holds `hardware_ceilings` and measured rows with counts (e.g. after
`make ceilings`, `make bench TIER=high PROFILE=modelling` and the same with `SIZE=tiny`) and prints:

1. FLOP counts of bert-base (`BertModel`) and gpt2 (`GPT2Model`) at batch 1, seq 128 against the
   closed form 2 × non-embedding parameters × tokens plus attention's score and value products;
2. accuracy held out by architecture (`analysis/validation.py`: GroupKFold over architecture
   groups, never shuffled rows), MAPE and the share within ±10%, for a FLOPs-only fit, the bare
   roofline, the calibrated roofline and the predictor: on every usable row, and on full size at
   batch 1 and 8 (the issue's targets);
3. the predictor's 90% interval coverage on held-out architectures: each outer fold's intervals
   come from a predictor trained (with its own inner held-out residuals) without that fold;
4. with `--rerun-db` (a store of the same configurations measured again): the noise floor, how far
   the re-measured medians land from the first (the same statistics, re-measurement as the
   "prediction"); and the drift test (`analysis/drift.py`, each family's predicted time): a fit on
   the re-measurement against the first fit, and, for each family the test judges in turn, a fit
   on the re-measurement with every row of that family made 20% slower;
5. the wall time of each step.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.calibration import calibrate
from mlperf_pipeline.analysis.drift import drifts, family_times
from mlperf_pipeline.analysis.modelling import stored_work
from mlperf_pipeline.analysis.predictor import predict_point, train
from mlperf_pipeline.analysis.validation import (
    accuracy,
    calibrated_out_of_fold,
    flops_only_out_of_fold,
    groups_of,
    out_of_fold,
    uncalibrated_seconds,
)

TOKENS = 128
SERIES = ["hardware", "model_type", "size", "batch_size", "seq_len", "dtype"]


def drift_table(first: pd.DataFrame, rerun: pd.DataFrame) -> list[str]:
    """The drift test of a fit on the re-measurement against the first fit, then with each judged
    family of the re-measurement made 20% slower in turn: which families each fit flags."""
    calibration = calibrate(rerun)
    judged = [time.key for time in family_times(calibration, rerun, first)]
    lines = ["| re-measurement | families flagged | change of the family's predicted time |", "|---|---|---|"]
    cases = [("unchanged", None)] + [(f"{family} 20% slower", family) for _, family, _ in judged]
    for label, family in cases:
        work = rerun.copy()
        if family is not None:
            work.loc[work["family"] == family, "seconds"] *= 1.2
            work["latency_ms_p50"] = work["seconds"] * 1e3
            calibration = calibrate(work)
        found = drifts(calibration, work, first)
        flagged = ", ".join(f"{d.key[1]} ({d.method})" for d in found) or "none"
        change = ", ".join(f"{d.change_pct:+.1f}% (p={d.p_value:.2g})" for d in found) or "-"
        lines.append(f"| {label} | {flagged} | {change} |")
    return [f"families judged (own interval, ≥ 3 types): {', '.join(key[1] for key in judged)}\n", *lines]


def closed_form_table() -> list[str]:
    import torch
    from transformers import GPT2Config, GPT2Model

    from mlperf_pipeline.skillsets.generate import spec_for
    from mlperf_pipeline.skillsets.runtime import build_model, make_inputs
    from mlperf_pipeline.skillsets.runtime.counting import count_forward, count_on_meta

    lines = ["| model | counted GFLOP | closed form GFLOP | difference |", "|---|---|---|---|"]
    info = spec_for("bert").info()
    bert = build_model(info, "full")
    counted = count_forward(bert, make_inputs(bert, info, 1, TOKENS, "cpu", "float32")).flops
    embeddings = sum(p.numel() for p in bert.embeddings.parameters())
    pooler = sum(p.numel() for p in bert.pooler.parameters())
    body = sum(p.numel() for p in bert.parameters()) - embeddings - pooler
    config = bert.config
    closed = 2 * body * TOKENS + 2 * pooler + config.num_hidden_layers * 4 * TOKENS**2 * config.hidden_size
    lines.append(
        f"| bert-base (BertModel) | {counted / 1e9:.3f} | {closed / 1e9:.3f} | {(counted / closed - 1) * 100:+.2f}% |"
    )
    counted = count_on_meta(spec_for("gpt2").info(), "full", 1, TOKENS).flops
    with torch.device("meta"):
        gpt2 = GPT2Model(GPT2Config())
    body = sum(p.numel() for p in gpt2.parameters()) - gpt2.wte.weight.numel() - gpt2.wpe.weight.numel()
    closed = 2 * body * TOKENS + gpt2.config.n_layer * 4 * TOKENS**2 * gpt2.config.n_embd
    lines.append(
        f"| gpt2 (GPT2Model) | {counted / 1e9:.3f} | {closed / 1e9:.3f} | {(counted / closed - 1) * 100:+.2f}% |"
    )
    return lines


def _row(name: str, measured, predicted, subset) -> str:
    everything, subset_accuracy = accuracy(measured, predicted), accuracy(measured[subset], predicted[subset])
    return (
        f"| {name} | {everything.mape_pct:.1f}% | {everything.within_pct:.0f}% | {subset_accuracy.mape_pct:.1f}% | "
        f"{subset_accuracy.within_pct:.0f}% |"
    )


def coverage(work: pd.DataFrame) -> tuple[float, float, int]:
    """Share of held-out rows inside their 90% interval, and the median interval width (× of the point)."""
    from sklearn.model_selection import GroupKFold

    groups = groups_of(work)
    inside, widths = [], []
    for train_index, test_index in GroupKFold(n_splits=min(5, len(set(groups)))).split(work, groups=groups):
        trained = train(work.iloc[train_index].reset_index(drop=True))
        test = work.iloc[test_index].reset_index(drop=True)
        predicted = trained.predictor.predict(test)
        measured = test["seconds"].to_numpy()
        inside += list((predicted["lower_s"] <= measured) & (measured <= predicted["upper_s"]))
        widths += list(predicted["upper_s"] / predicted["lower_s"])
    return float(np.mean(inside) * 100), float(np.median(widths)), len(inside)


def matched(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    return first.merge(second[[*SERIES, "seconds"]], on=SERIES, suffixes=("", "_rerun"))


def _timed(label: str, timings: dict, function, *args):
    started = time.perf_counter()
    value = function(*args)
    timings[label] = time.perf_counter() - started
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--rerun-db", default=None)
    parser.add_argument("--skip-closed-form", action="store_true")
    args = parser.parse_args()
    timings: dict[str, float] = {}
    if not args.skip_closed_form:
        print("## FLOP counts against the closed form (batch 1, seq 128)\n")
        print("\n".join(_timed("closed form counts", timings, closed_form_table)), "\n")
    work = _timed("read and prepare rows", timings, stored_work, args.db)
    groups = groups_of(work)
    print(
        f"{len(work)} rows, {work['model_type'].nunique()} model types in {len(set(groups))} architecture groups, "
        f"sizes {sorted(work['size'].unique())}, batches {sorted(work['batch_size'].unique())}\n"
    )
    measured = work["seconds"].to_numpy()
    full = ((work["size"] == "full") & work["batch_size"].isin([1, 8])).to_numpy()
    print("## Held out by architecture (GroupKFold, 5 folds)\n")
    print("| method | MAPE, all rows | within ±10% | MAPE, full size b1/b8 | within ±10% |")
    print("|---|---|---|---|---|")
    print(
        _row(
            "FLOPs-only log-linear fit",
            measured,
            _timed("FLOPs-only, 5 folds", timings, flops_only_out_of_fold, work),
            full,
        )
    )
    print(_row("roofline, uncalibrated", measured, uncalibrated_seconds(work), full))
    print(
        _row(
            "calibrated roofline",
            measured,
            _timed("calibrated roofline, 5 folds", timings, calibrated_out_of_fold, work),
            full,
        )
    )
    print(_row("predictor", measured, _timed("predictor, 5 folds", timings, out_of_fold, work, predict_point), full))
    share, width, n = _timed("interval coverage, nested", timings, coverage, work)
    print(f"\n90% interval coverage on held-out architectures: {share:.1f}% of {n} rows (median width {width:.2f}x)\n")
    if args.rerun_db:
        rerun = stored_work(args.rerun_db)
        pairs = matched(work, rerun)
        floor = accuracy(pairs["seconds"].to_numpy(), pairs["seconds_rerun"].to_numpy())
        print(f"noise floor: a re-measurement of {floor.n} rows lands {floor.mape_pct:.1f}% away (MAPE), "
              f"{floor.within_pct:.0f}% within ±10%\n")  # fmt: skip
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        first = pd.DataFrame(_timed("calibration with bootstrap", timings, calibrate, work).param_rows(now, "first"))
        print("\n".join(_timed("drift tests", timings, drift_table, first, rerun)), "\n")
    print("## Wall time\n")
    print("| step | seconds |\n|---|---|")
    for label, seconds in timings.items():
        print(f"| {label} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
