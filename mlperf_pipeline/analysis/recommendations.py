"""Advice drawn from measured rows only, each piece naming the rows it rests on.

Nothing here is generic: a batch size is recommended only where several were measured, a dtype or
thread count only where the alternatives were measured on the same configuration, and a
difference only where the two 95% intervals do not overlap (otherwise the advice says the
alternatives are indistinguishable). Input: the current results, normalised
(`report.frame.normalise`), and optionally the `series_noise` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from mlperf_pipeline.reasons import Status

BEST_BATCH = "best batch for throughput"
LATENCY_BOUND = "batch under the latency bound"
BOUND = "compute- or memory-bound"
DTYPE = "dtype"
THREADS = "thread count"
UNSTABLE = "unstable between runs"

# A series' configuration apart from what is being compared.
_SERIES = ["hardware", "model_type", "size", "seq_len", "dtype", "scenario"]
_CONFIGURATION = ["hardware", "model_type", "size", "batch_size", "seq_len", "scenario"]


@dataclass(frozen=True)
class Recommendation:
    kind: str
    subject: str  # the configuration it is about, e.g. `bert · cpu · full · seq 128 · float32`
    advice: str
    evidence: tuple[str, ...]  # the rows it rests on, as `row_reference` writes them


def _int(value) -> str:
    return "?" if pd.isna(value) else str(int(value))


def row_reference(row) -> str:
    """A result row named so that a reader can find it: its run id and whole configuration."""
    return (
        f"run {row['run_id']}: {row['model_type']} · {row['hardware']} · {row['size']} · batch {_int(row['batch_size'])}"
        f" · seq {_int(row['seq_len'])} · {row['dtype']} · {_int(row['threads'])} threads"
        f" · p50 {row['latency_ms_p50']:.4g} ms"
    )


_NUMBER_LABELS = {"batch_size": "batch", "seq_len": "seq", "threads": "threads"}


def _subject(row, fields: Iterable[str]) -> str:
    """The configuration as a reader says it: `bert · cpu · full · seq 128 · float32 · latency`."""
    return " · ".join(
        f"{_NUMBER_LABELS[name]} {_int(row[name])}" if name in _NUMBER_LABELS else str(row[name]) for name in fields
    )


def _measured(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[(results["status"] == Status.OK) & (results["latency_ms_p50"] > 0)]
    return rows.sort_values("measured_at", kind="stable")


def _throughput_interval(row) -> tuple[float, float]:
    """Items per second over the latency interval (the ends swap: a slower call is fewer items)."""
    batch = row["batch_size"] if row["batch_size"] > 0 else 1
    high = row["ci95_high_ms"] if row["ci95_high_ms"] > 0 else row["latency_ms_p50"]
    low = row["ci95_low_ms"] if row["ci95_low_ms"] > 0 else row["latency_ms_p50"]
    return batch * 1e3 / high, batch * 1e3 / low


def _latency_apart(faster, slower) -> bool:
    """The faster row's interval lies wholly below the slower's: a difference, not noise."""
    return faster["ci95_high_ms"] < slower["ci95_low_ms"]


def best_batches(results: pd.DataFrame) -> Iterator[Recommendation]:
    """Per series measured at two batch sizes or more: the one of highest throughput, or the
    smallest of those whose throughput intervals overlap the best's."""
    for _, rows in _measured(results).groupby(_SERIES, sort=True):
        per_batch = rows.drop_duplicates("batch_size", keep="last").sort_values("batch_size")
        if len(per_batch) < 2:
            continue
        throughput = per_batch["batch_size"] * 1e3 / per_batch["latency_ms_p50"]
        best = per_batch.loc[throughput.idxmax()]
        best_low, _ = _throughput_interval(best)
        ties = [row for _, row in per_batch.iterrows() if _throughput_interval(row)[1] >= best_low]
        chosen = min(ties, key=lambda row: row["batch_size"])
        if len(ties) == 1:
            advice = (
                f"batch {_int(best['batch_size'])}: {throughput.max():.4g} items/s, clear of every other measured batch"
            )
        else:
            others = ", ".join(_int(row["batch_size"]) for row in ties if row is not chosen)
            advice = (
                f"batch {_int(chosen['batch_size'])}: its throughput interval overlaps the best's "
                f"(batch {_int(best['batch_size'])}, {throughput.max():.4g} items/s) and those of batch {others}; "
                "the smallest of them has the lowest latency"
            )
        yield Recommendation(
            BEST_BATCH, _subject(best, _SERIES), advice, tuple(map(row_reference, _records(per_batch)))
        )


def within_latency_bound(results: pd.DataFrame, bound_ms: float | None) -> Iterator[Recommendation]:
    """Per series at two batch sizes or more: the highest-throughput batch whose p90 latency (p50
    where no p90 was kept) stays under `bound_ms`, or that none does."""
    if bound_ms is None:
        return
    for _, rows in _measured(results).groupby(_SERIES, sort=True):
        per_batch = rows.drop_duplicates("batch_size", keep="last").sort_values("batch_size")
        if len(per_batch) < 2:
            continue
        tail = per_batch[["latency_ms_p90", "latency_ms_p50"]].max(axis=1)  # p50 where no p90 was kept
        fits = per_batch[tail <= bound_ms]
        subject = _subject(per_batch.iloc[0], _SERIES)
        if fits.empty:
            advice = f"no measured batch stays under {bound_ms:g} ms (the fastest, batch {_int(per_batch.iloc[0]['batch_size'])}, takes {tail.min():.4g} ms)"
            evidence = per_batch.head(1)
        else:
            best = fits.loc[(fits["batch_size"] / fits["latency_ms_p50"]).idxmax()]
            advice = f"batch {_int(best['batch_size'])}: p90 {tail[best.name]:.4g} ms under the {bound_ms:g} ms bound, {best['batch_size'] * 1e3 / best['latency_ms_p50']:.4g} items/s"
            evidence = per_batch
        yield Recommendation(LATENCY_BOUND, subject, advice, tuple(map(row_reference, _records(evidence))))


def _records(frame: pd.DataFrame) -> Iterator[pd.Series]:
    return (row for _, row in frame.iterrows())


_IMPLICATION = {
    "memory": "time goes to moving weights and activations, so a larger batch (more work per byte) or a narrower "
    "dtype (fewer bytes) is what can help; more compute cannot",
    "compute": "time goes to arithmetic, so a dtype with a higher measured product rate, or more threads, is what "
    "can help; a larger batch adds time in proportion",
}


def bounds(results: pd.DataFrame) -> Iterator[Recommendation]:
    """Per (hardware, size, dtype, roof): the model types under that roof of their hardware's
    measured roofline (each at its smallest measured batch), how close they come to the compute
    roof, and what that implies."""
    rows = _measured(results)
    rows = rows[rows["bound"].isin(list(_IMPLICATION))].sort_values(["batch_size", "measured_at"], kind="stable")
    rows = rows.drop_duplicates(["hardware", "model_type", "size", "dtype"], keep="first")
    for (hardware, size, dtype, bound), group in rows.groupby(["hardware", "size", "dtype", "bound"], sort=True):
        types = ", ".join(sorted(group["model_type"]))
        fraction = group["roofline_fraction"].dropna()
        reach = f", a median {100 * fraction.median():.3g}% of the compute roof" if len(fraction) else ""
        advice = (
            f"{bound}-bound ({len(group)} type{'' if len(group) == 1 else 's'}: {types}{reach}): {_IMPLICATION[bound]}"
        )
        yield Recommendation(
            BOUND, f"{hardware} · {size} · {dtype}", advice, tuple(map(row_reference, _records(group)))
        )


def _alternatives(results: pd.DataFrame, column: str, kind: str) -> Iterator[Recommendation]:
    rows = _measured(results)
    keys = [name for name in _CONFIGURATION + ["dtype", "threads"] if name != column]
    for _, group in rows.groupby(keys, sort=True, dropna=False):
        options = group.drop_duplicates(column, keep="last").sort_values("latency_ms_p50")
        if len(options) < 2:
            continue
        fastest, runner_up = options.iloc[0], options.iloc[1]
        ratio = runner_up["latency_ms_p50"] / fastest["latency_ms_p50"]
        label = _int(fastest[column]) if column == "threads" else str(fastest[column])
        other = _int(runner_up[column]) if column == "threads" else str(runner_up[column])
        if _latency_apart(fastest, runner_up):
            advice = f"{label}: {ratio:.3g}x faster than {other}, the intervals apart"
        else:
            advice = f"{label} and {other} are indistinguishable here (their 95% intervals overlap)"
        yield Recommendation(kind, _subject(fastest, keys), advice, tuple(map(row_reference, _records(options))))


def dtypes(results: pd.DataFrame) -> Iterator[Recommendation]:
    """Where one configuration was measured in several dtypes: the fastest, if it is apart."""
    return _alternatives(results, "dtype", DTYPE)


def thread_counts(results: pd.DataFrame) -> Iterator[Recommendation]:
    """Where one configuration was measured at several thread counts: the fastest, if it is apart."""
    return _alternatives(results, "threads", THREADS)


def unstable(results: pd.DataFrame, noise: pd.DataFrame | None, threshold_pct: float) -> Iterator[Recommendation]:
    """Series whose run-to-run sigma (`series_noise`) passes `threshold_pct`: compare their runs
    against that sigma, not against one run's interval."""
    if noise is None or noise.empty:
        return
    noisy = noise[noise["noise_pct"] > threshold_pct].sort_values("noise_pct", ascending=False)
    measured = _measured(results)
    for series in noisy.itertuples(index=False):
        same = measured[
            (measured["hardware"] == series.hardware)
            & (measured["model_type"] == series.model_type)
            & (measured["size"] == series.size)
            & (measured["batch_size"] == series.batch_size)
            & (measured["dtype"] == series.dtype)
        ]
        subject = f"{series.model_type} · {series.hardware} · {series.size} · batch {_int(series.batch_size)} · {series.dtype}"
        advice = (
            f"run-to-run σ {series.noise_pct:.1f}% over {int(series.n_runs)} runs (above {threshold_pct:g}%): one run's "
            "interval understates how far the next run can land; judge changes against σ"
        )
        evidence = tuple(map(row_reference, _records(same.tail(1)))) or (f"series_noise: {subject}",)
        yield Recommendation(UNSTABLE, subject, advice, evidence)


def recommendations(
    results: pd.DataFrame, noise: pd.DataFrame | None, latency_bound_ms: float | None, unstable_pct: float
) -> list[Recommendation]:
    """Every recommendation the rows support, grouped by kind."""
    return [
        *best_batches(results),
        *within_latency_bound(results, latency_bound_ms),
        *dtypes(results),
        *thread_counts(results),
        *unstable(results, noise, unstable_pct),
        *bounds(results),
    ]
