"""The detectors over the whole results store: read in batches, judge, merge the findings back.

What the `regressions` and `anomalies` assets do, kept out of Dagster so that the scale benchmark
(`benchmarks/regressions_scale.py`) runs exactly this code. Series are read `BATCH_RUNS` stored
runs at a time, whole (hardware, model type) groups, with only the columns the detectors use:
the memory a judging needs stays flat however large the store grows (1,000,000 rows of every
column take ~2 GiB in pandas at once).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from mlperf_pipeline.analysis.anomalies import anomaly_findings
from mlperf_pipeline.analysis.regressions import KnownVersions, regression_findings
from mlperf_pipeline.store.results import (
    read_environments,
    read_overridden_skillsets,
    read_open_findings,
    read_series_history,
    read_series_sizes,
    records_for,
    write_anomalies,
    write_regressions,
)
from mlperf_pipeline.store.schema import SERIES_KEY

BATCH_RUNS = 100_000

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class Judgement:
    """What one judging of the whole store found: the rows, the counts of the finding function,
    the rows merged into the table, and the seconds it took."""

    rows: pd.DataFrame
    counts: dict[str, int]
    written: int
    seconds: float


def stored_histories(db_path: str | Path, batch_runs: int = BATCH_RUNS) -> Iterator[tuple[pd.DataFrame, int, int]]:
    """The stored measured runs (`read_series_history`) in batches of whole (hardware, model type)
    groups of at most `batch_runs` runs (a larger group is a batch of its own), with the runs read
    so far and in all."""
    sizes = read_series_sizes(db_path)
    total, done = int(sizes["runs"].sum()), 0
    for hardware, types in sizes.groupby("hardware", sort=True):
        batch, runs = [], 0
        for model_type, count in zip(types["model_type"], types["runs"]):
            if batch and runs + count > batch_runs:
                done += runs
                yield read_series_history(db_path, hardware, batch), done, total
                batch, runs = [], 0
            batch.append(model_type)
            runs += int(count)
        if batch:
            done += runs
            yield read_series_history(db_path, hardware, batch), done, total


def _judge(
    what: str,
    db_path: str | Path,
    judge: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict]],
    batch_runs: int,
    progress: Progress,
) -> tuple[pd.DataFrame, dict[str, int], pd.DataFrame, float]:
    """Every batch through `judge`: the rows, the summed counts, the series judged, the start time."""
    started = time.perf_counter()
    frames, keys, counts = [], [], Counter()
    for history, done, total in stored_histories(db_path, batch_runs):
        rows, batch_counts = judge(history)
        frames.append(rows)
        keys.append(history[list(SERIES_KEY)].drop_duplicates())
        counts.update(batch_counts)
        if progress is not None:
            progress(
                f"{what}: judged {counts['series']} series ({done:,} of {total:,} runs) "
                f"in {time.perf_counter() - started:.1f} s"
            )
    found = [frame for frame in frames if not frame.empty]
    judged = pd.concat(keys, ignore_index=True) if keys else pd.DataFrame(columns=list(SERIES_KEY))
    return (pd.concat(found, ignore_index=True) if found else pd.DataFrame()), dict(counts), judged, started


def judge_stored_regressions(
    db_path: str | Path, detected_at: datetime, batch_runs: int = BATCH_RUNS, progress: Progress = None
) -> Judgement:
    """Regression findings for every stored series, merged into the `regressions` table: what the
    `regressions` asset does. `progress` gets a line per batch."""
    opened = read_open_findings(db_path)
    known = KnownVersions(read_environments(db_path), read_overridden_skillsets(db_path))
    rows, counts, _, started = _judge(
        "regressions",
        db_path,
        lambda history: regression_findings(history, detected_at, opened, known),
        batch_runs,
        progress,
    )
    judging = _judging("regressions", detected_at, counts, len(rows), started)
    written = write_regressions(db_path, records_for("regressions", rows), judging)
    return Judgement(rows, {"series": 0, "judged": 0, **counts}, written, time.perf_counter() - started)


def judge_stored_anomalies(
    db_path: str | Path, detected_at: datetime, batch_runs: int = BATCH_RUNS, progress: Progress = None
) -> Judgement:
    """Anomalies in every stored series, replacing each judged series' stored anomalies: what the
    `anomalies` asset does. `progress` gets a line per batch."""
    rows, counts, judged, started = _judge(
        "anomalies", db_path, lambda history: anomaly_findings(history, detected_at), batch_runs, progress
    )
    judging = _judging("anomalies", detected_at, counts, len(rows), started)
    written = write_anomalies(db_path, records_for("anomalies", rows), judged, judging)
    return Judgement(
        rows, {"series": 0, "scored_runs": 0, "anomalies": 0, **counts}, written, time.perf_counter() - started
    )


def _judging(detector: str, detected_at: datetime, counts: dict, findings: int, started: float) -> dict:
    """The `detection_runs` row of one judging; its seconds are the reading and judging, before the
    write that records them."""
    seconds = time.perf_counter() - started
    return {
        "detected_at": detected_at,
        "detector": detector,
        "series": counts.get("series", 0),
        "findings": findings,
        "seconds": seconds,
    }
