"""Two-level results: one configuration measured in k independent processes, combined into one row.

Kalibera and Jones ("Rigorous Benchmarking in Reasonable Time", ISMM 2013) found what this host
shows too: the variation between process executions dominates the variation between the
iterations of one process (here ±2% within a process, up to 25% between two processes minutes
apart). An interval computed from one process's samples therefore says nothing about the next
run. So each process contributes one observation, its median, and the interval is Student's t
over those k medians: it is about what another run would measure, not about this process.

Which process supplies what:
- the latency (`latency_ms_p50`): the mean of the per-process medians, the centre of the interval;
- the tails, mean, std and IQR: all samples pooled (each process's share of the tail is real);
- import, build, to-device and first-call times, energy: the median over processes;
- peak memory: the largest process (a memory bound must hold for every process);
- utilisation: the mean; foreign load: the largest.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# scipy.special, not scipy.stats: the Dagster process imports this module when it loads the
# definitions, and scipy.stats alone adds ~0.7 s to every `dagster job execute`.
from scipy.special import stdtrit

from mlperf_pipeline.bench import stats
from mlperf_pipeline.reasons import ReasonCode, Status

CONFIDENCE = 0.95
_MEDIAN_OVER_PROCESSES = ("import_s", "build_s", "to_device_s", "first_call_ms", "energy_j", "warmup_n")
_MEAN_OVER_PROCESSES = ("cpu_util_pct", "gpu_util_pct")
# peak_memory_mb: only process 0 runs the memory pass (`BenchRequest.memory_pass`), so this is its reading.
_MAX_OVER_PROCESSES = ("peak_memory_mb", "foreign_load_pct", "host_probe_ms")
# The workload's counts come from process 0, which counts after its memory pass.
_FROM_FIRST = ("threads", "params", "effective_seq_len", "flops", "bytes", "ops", "count_reason")


@dataclass(frozen=True)
class BetweenProcesses:
    """The interval over k per-process medians."""

    level_ms: float  # mean of the medians
    low_ms: float
    high_ms: float
    cv_pct: float  # sample standard deviation of the medians, in percent of the level
    processes: int

    @property
    def half_width_pct(self) -> float:
        return (self.high_ms - self.low_ms) / 2.0 / self.level_ms * 100.0


def between_processes(medians_ms: list[float], confidence: float = CONFIDENCE) -> BetweenProcesses | None:
    """Student's t interval of the mean of the per-process medians; None below two processes."""
    k = len(medians_ms)
    if k < 2:
        return None
    if any(not math.isfinite(value) or value <= 0 for value in medians_ms):
        raise ValueError(f"per-process medians must be positive and finite, got {medians_ms!r}")
    level = statistics.fmean(medians_ms)
    spread = statistics.stdev(medians_ms)
    half = float(stdtrit(k - 1, 0.5 + confidence / 2.0)) * spread / math.sqrt(k)
    return BetweenProcesses(level, level - half, level + half, spread / level * 100.0, k)


def combine(records: list[dict], batch_size: int, target_ci_pct: float) -> tuple[dict, list[tuple[int, float]]]:
    """One row's measured fields from the records of a configuration's processes, in process order,
    and its samples as (process index, latency) pairs.

    `records` holds each process's record for the configuration (None where the process gave none).
    A process that failed fails the row: a crash in one of k processes is a finding, not noise. One
    process alone keeps its own within-process verdict (the single-process method)."""
    failed = next(((index, record) for index, record in enumerate(records) if _failed(record)), None)
    if failed is not None:
        index, record = failed
        return _failure(index, record, len(records)), []
    samples = [(index, value) for index, record in enumerate(records) for value in record.get("samples") or []]
    if len(records) == 1:
        return _single_process(records[0]), samples
    medians = [record["latency_ms_p50"] for record in records]
    interval = between_processes(medians)
    row = {
        **stats.summarize([value for _, value in samples]),
        **_aggregated(records),
        "latency_ms_p50": interval.level_ms,
        "ci95_low_ms": interval.low_ms,
        "ci95_high_ms": interval.high_ms,
        "throughput_per_s": batch_size * 1000.0 / interval.level_ms,
        "n_processes": len(records),
        "process_medians_ms": medians,
        "between_process_cv_pct": interval.cv_pct,
        **_verdict(interval, medians, target_ci_pct),
    }
    return row, samples


def _failed(record: dict | None) -> bool:
    return record is None or record.get("status") == Status.FAILED or not record.get("samples")


def _failure(index: int, record: dict | None, processes: int) -> dict:
    record = record or {}
    where = f"process {index + 1} of {processes}" if processes > 1 else "the benchmark process"
    return {
        **{name: record.get(name) for name in _FROM_FIRST},
        "status": Status.FAILED,
        "reason_code": record.get("reason_code") or ReasonCode.CRASH,
        "reason": f"{where}: {record.get('reason') or 'no result from the benchmark process'}",
        "n_processes": processes,
    }


def _single_process(record: dict) -> dict:
    return {**{key: value for key, value in record.items() if key != "samples"}, "n_processes": 1}


def _aggregated(records: list[dict]) -> dict:
    def present(name):
        return [record[name] for record in records if record.get(name) is not None]

    row = {name: records[0].get(name) for name in _FROM_FIRST}
    for names, reduce in (
        (_MEDIAN_OVER_PROCESSES, statistics.median),
        (_MEAN_OVER_PROCESSES, statistics.fmean),
        (_MAX_OVER_PROCESSES, max),
    ):
        for name in names:
            values = present(name)
            row[name] = reduce(values) if values else None
    if row.get("warmup_n") is not None:  # a count: the median of an even number of processes may fall halfway
        row["warmup_n"] = round(row["warmup_n"])
    return row


def _verdict(interval: BetweenProcesses, medians: list[float], target_ci_pct: float) -> dict:
    if interval.half_width_pct <= target_ci_pct:
        return {"status": Status.OK, "reason_code": None, "reason": None}
    listed = ", ".join(f"{value:.4g}" for value in medians)
    return {
        "status": Status.INVALID,
        "reason_code": ReasonCode.UNSTABLE_BETWEEN_RUNS,
        "reason": (
            f"between-process {CONFIDENCE:.0%} CI ±{interval.half_width_pct:.1f}% over {interval.processes} processes "
            f"(medians {listed} ms, CV {interval.cv_pct:.1f}%), target ±{target_ci_pct:.1f}%"
        ),
    }
