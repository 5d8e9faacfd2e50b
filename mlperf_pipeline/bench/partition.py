"""Benchmark one (hardware, model type) partition: verdict, isolated run, rows for the store."""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.levels import combine
from mlperf_pipeline.bench.passes import SliceRunner, Slices, round_robin
from mlperf_pipeline.bench.probe import slowdown_pct
from mlperf_pipeline.bench.request import BENCH_VERSION, BenchGrid, BenchRequest
from mlperf_pipeline.bench.result_row import MEASURED_FIELDS, ResultRow
from mlperf_pipeline.bench.runner import ChildOutcome, run_concurrent, run_isolated
from mlperf_pipeline.reasons import ReasonCode, Status

if TYPE_CHECKING:  # annotations only: the bench child need not import the generator
    from mlperf_pipeline.hardware.detect import DeviceInfo
    from mlperf_pipeline.skillsets.generate import SkillsetRecord

log = logging.getLogger(__name__)


@dataclass
class PartitionContext:
    """Everything about the partition that is not measured but recorded with each row."""

    hardware: str
    model_type: str
    family: str
    device_name: str | None
    env_fingerprint: str
    skillset_hash: str
    skillset_path: Path
    runnable: bool
    skip_reason_code: str | None = None
    skip_reason: str | None = None
    inputs_version: str | None = None  # what the measurement depends on (`bench.versions`)
    # (batch, seq, dtype) -> why it is skipped before launch (`analysis/budget.py`: too slow)
    too_slow: dict = field(default_factory=dict)

    @classmethod
    def of_record(
        cls, record: SkillsetRecord, device: DeviceInfo, env_fingerprint: str, size: str, inputs_version: str
    ) -> PartitionContext:
        """The context of a generated skillset's partition at `size`: runnable, or why it is skipped."""
        runnable = record.runnable(size)
        return cls(
            hardware=record.hardware,
            model_type=record.model_type,
            family=record.family,
            device_name=(device.device_names or [None])[0],
            env_fingerprint=env_fingerprint,
            skillset_hash=record.source_hash,
            skillset_path=Path(record.path),
            runnable=runnable,
            skip_reason_code=None if runnable else record.verdict["sizes"].get(size),
            skip_reason=None if runnable else record.verdict.get("reason"),
            inputs_version=inputs_version,
        )

    def request(self, grid: BenchGrid) -> BenchRequest:
        """What to measure for this partition: the run's grid on its skillset and hardware."""
        return BenchRequest(
            skillset_path=str(self.skillset_path),
            model_type=self.model_type,
            hardware=self.hardware,
            excluded=[list(config) for config in self.too_slow],
            **grid.to_dict(),
        )

    def with_too_slow(self, reasons: dict, grid: BenchGrid) -> PartitionContext:
        """This context with configurations skipped as too slow; not runnable when all of them are."""
        if not reasons:
            return self
        every = len(grid.batch_sizes) * len(grid.seq_lens) * len(grid.dtypes)
        if len(reasons) < every:
            return replace(self, too_slow=reasons)
        reason = next(iter(reasons.values()))
        return replace(self, too_slow=reasons, runnable=False, skip_reason_code=ReasonCode.TOO_SLOW, skip_reason=reason)


@dataclass
class PartitionResult:
    rows: list[ResultRow]
    samples: list[dict]
    wall_s: float = 0.0

    @classmethod
    def joined(cls, results: list[PartitionResult]) -> PartitionResult:
        """The results of one partition's sizes as one (a run over several sizes)."""
        return cls(
            [row for result in results for row in result.rows],
            [sample for result in results for sample in result.samples],
            sum(result.wall_s for result in results),
        )

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def row_dicts(self) -> list[dict]:
        """The rows as the store writes them."""
        return [row.to_dict() for row in self.rows]

    def summary(self) -> dict:
        """The first measured row's verdict and figures (the first row's where all are skipped), and
        the number of rows: a materialisation's metadata."""
        first = next((row for row in self.rows if row.status != Status.SKIPPED), self.rows[0])
        return {
            "status": first.status,
            "reason_code": first.reason_code or "",
            "latency_ms_p50": first.latency_ms_p50,
            "ci95_ms": f"{first.ci95_low_ms}–{first.ci95_high_ms}",
            "n_samples": first.n_samples,
            "rows": len(self.rows),
        }


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _base_fields(
    context: PartitionContext, request: BenchRequest, run_id: str, batch: int, seq: int, dtype: str
) -> dict:
    """The fields of a row that the parent knows before anything is measured."""
    return {
        "run_id": run_id,
        "measured_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "hardware": context.hardware,
        "device_name": context.device_name,
        "model_type": context.model_type,
        "family": context.family,
        "size": request.size,
        "batch_size": batch,
        "seq_len": seq,
        "dtype": dtype,
        "scenario": "latency",
        "workers": 1,
        "env_fingerprint": context.env_fingerprint,
        "skillset_hash": context.skillset_hash,
        "bench_version": BENCH_VERSION,
        "git_commit": git_commit(),
        "inputs_version": context.inputs_version,
    }


# Another process keeping more than this share of the host busy marks the result as taken under load.
FOREIGN_LOAD_THRESHOLD_PCT = 10.0


def _rows_from_slices(
    context: PartitionContext, request: BenchRequest, run_id: str, slices: Slices
) -> tuple[list[ResultRow], list[dict]]:
    """One row per configuration, combined over the partition's processes (`bench/levels.py`)."""
    by_config = [_records_by_config(outcome) for outcome in slices.outcomes]
    first = slices.outcomes[0]
    rows, samples, seen = [], [], set()
    for batch, seq, dtype in request.configs():
        row = _base_fields(context, request, run_id, batch, seq, dtype)
        records = [measured.get((batch, seq, dtype)) for measured in by_config]
        fields, process_samples = combine(
            [record if record is not None else _missing(outcome) for record, outcome in zip(records, slices.outcomes)],
            batch,
            request.target_ci_pct,
        )
        row.update({name: fields.get(name) for name in (*MEASURED_FIELDS, *_PROCESS_FIELDS)})
        row["threads"] = row["threads"] or first.extra.get("threads")
        row["seq_len"] = fields.get("effective_seq_len") or seq
        series = (row["batch_size"], row["seq_len"], row["dtype"])
        if series in seen:
            continue  # two requested lengths capped to the same one (or none, for pixels): one series
        seen.add(series)
        loads = [outcome.extra.get("load_before_pct") for outcome in slices.outcomes]
        row.update(
            omp_wait_policy=first.extra.get("omp_wait_policy"),
            load_before_pct=max((load for load in loads if load is not None), default=None),
            host_slowdown_pct=slowdown_pct(row.get("host_probe_ms"), slices.reference_probe_ms),
            remeasured=slices.remeasured,
        )
        row["foreign_load"] = _under_foreign_load(row)
        rows.append(ResultRow(**row))
        samples += _sample_rows(rows[-1], process_samples)
    return rows, samples


_PROCESS_FIELDS = ("n_processes", "process_medians_ms", "between_process_cv_pct")


def _records_by_config(outcome: ChildOutcome) -> dict:
    return {(r["batch_size"], r["seq_len"], r["dtype"]): r for r in outcome.records if r.get("kind") == "result"}


def _missing(outcome: ChildOutcome) -> dict:
    """What stands for a configuration a process gave no record of: why the process ended."""
    return {
        "status": Status.FAILED,
        "reason_code": outcome.reason_code or ReasonCode.CRASH,
        "reason": outcome.reason or "no result from the benchmark process",
    }


def _under_foreign_load(row: dict) -> bool | None:
    loads = [load for load in (row.get("load_before_pct"), row.get("foreign_load_pct")) if load is not None]
    return any(load > FOREIGN_LOAD_THRESHOLD_PCT for load in loads) if loads else None


def _sample_rows(row: ResultRow, latencies: list[float]) -> list[dict]:
    key = {
        name: getattr(row, name)
        for name in (
            "run_id",
            "hardware",
            "model_type",
            "size",
            "batch_size",
            "seq_len",
            "dtype",
            "scenario",
            "workers",
        )
    }
    return [
        {**key, "iteration": index, "latency_ms": value, "process": process}
        for index, (process, value) in enumerate(latencies)
    ]


def concurrent_row(
    context: PartitionContext,
    request: BenchRequest,
    run_id: str,
    workers: int,
    outcomes: list[ChildOutcome],
    sequential_throughput: float | None,
) -> tuple[ResultRow, list[dict]]:
    """Aggregate throughput of N workers released together, and its speedup over one stream."""
    from mlperf_pipeline.bench.stats import summarize

    batch, seq, dtype = request.configs()[0]
    row = {
        **_base_fields(context, request, run_id, batch, seq, dtype),
        "scenario": "concurrent",
        "workers": workers,
        "threads": outcomes[0].extra.get("threads") if outcomes else None,
        "omp_wait_policy": outcomes[0].extra.get("omp_wait_policy") if outcomes else None,
    }
    reports = [next((r for r in outcome.records if r.get("kind") == "worker"), None) for outcome in outcomes]
    failed_report = next((report for report in reports if report and report.get("status") == "failed"), None)
    if failed_report is not None:
        return ResultRow(
            **row,
            status=Status.FAILED,
            reason_code=failed_report["reason_code"],
            reason=f"a concurrent worker failed: {failed_report['reason']}",
        ), []
    failed = next((outcome for outcome in outcomes if not outcome.completed), None)
    if failed is not None:
        return ResultRow(
            **row,
            status=Status.FAILED,
            reason_code=failed.reason_code,
            reason=f"a concurrent worker failed: {failed.reason}",
        ), []
    latencies = [value for report in reports for value in report["samples"]]
    seq_used = reports[0].get("seq_len", seq)
    elapsed = max(report["elapsed_s"] for report in reports)
    throughput = sum(report["calls"] for report in reports) * batch / elapsed if elapsed else None
    row.update(
        summarize(latencies),
        status=Status.OK if latencies else Status.INVALID,
        reason_code=None if latencies else ReasonCode.TOO_FEW_SAMPLES,
        seq_len=seq_used,
        throughput_per_s=throughput,
        speedup=throughput / sequential_throughput if throughput and sequential_throughput else None,
    )
    result = ResultRow(**row)
    by_worker = [(worker, value) for worker, report in enumerate(reports) for value in report["samples"]]
    return result, _sample_rows(result, by_worker)


def skipped_rows(
    context: PartitionContext, request: BenchRequest, run_id: str | None = None, only_too_slow: bool = False
) -> list[ResultRow]:
    """A skipped row per configuration of the grid: its too-slow reason, or the partition's."""
    run_id = run_id or uuid.uuid4().hex
    rows = []
    for batch, seq, dtype in request.grid_configs():
        slow = context.too_slow.get((batch, seq, dtype))
        if only_too_slow and slow is None:
            continue
        rows.append(
            ResultRow(
                **_base_fields(context, request, run_id, batch, seq, dtype),
                status=Status.SKIPPED,
                reason_code=ReasonCode.TOO_SLOW if slow else context.skip_reason_code,
                reason=slow or context.skip_reason,
            )
        )
    return rows


def benchmark_partition(
    context: PartitionContext,
    request: BenchRequest,
    *,
    lock_dir: Path | None,
    timeout_s: float,
    memory_cap_bytes: int | None,
    omp_wait_policy: str = "auto",
    fork_servers: ForkServerPool | None = None,
) -> PartitionResult:
    """Measure one partition in `request.processes` isolated processes (more, up to
    `request.process_cap`, while its interval is wider than the target), or record why it is skipped.

    A range run spreads the processes of its partitions over round-robin passes instead
    (`bench/passes.py`; the `benchmark_results` asset); this is the same for one partition."""
    if not context.runnable:
        return PartitionResult(skipped_rows(context, request), [])
    limits = {"timeout_s": timeout_s, "memory_cap_bytes": memory_cap_bytes, "omp_wait_policy": omp_wait_policy}
    partitions = {context.model_type: (context, request)}
    run_slice = isolated_slices({context.model_type: request}, lock_dir=lock_dir, fork_servers=fork_servers, **limits)
    _, slices = next(passes_over(partitions, request, run_slice))
    return partition_result(context, request, slices, lock_dir=lock_dir, **limits)


def isolated_slices(
    requests: Mapping[str, BenchRequest],
    *,
    lock_dir: Path | None,
    fork_servers: ForkServerPool | None,
    announce: Callable[[str, int], None] | None = None,
    **limits,
) -> SliceRunner:
    """What runs process `index` of partition `key`: `run_isolated` of its request from fork
    server slot `index`, under the device lock; `announce(key, index)` first, if given. Only
    process 0 runs the memory pass (`BenchRequest.memory_pass`)."""

    def run_slice(key: str, index: int) -> ChildOutcome:
        if announce is not None:
            announce(key, index)
        request = requests[key] if index == 0 else replace(requests[key], memory_pass=False)
        return run_isolated(request, lock_dir=lock_dir, fork_servers=fork_servers, slot=index, **limits)

    return run_slice


def passes_over(
    partitions: Mapping[str, tuple[PartitionContext, BenchRequest]], grid: BenchGrid, run_slice: SliceRunner
) -> Iterator[tuple[str, Slices]]:
    """`passes.round_robin` over runnable partitions with the grid's process counts: each
    (key, slices) as soon as its last process is done, processes added as `wants_more_processes` says."""
    return round_robin(
        list(partitions),
        grid.processes,
        run_slice,
        max_processes=grid.process_cap,
        wants_more=lambda key, slices: wants_more_processes(*partitions[key], slices),
    )


# Processes are added (`max_processes` > `processes`) while a partition's processes so far ran for
# less than this many times its time cap (10 s by default): a tiny model's process takes ~0.5 s,
# so it gets every process up to `max_processes`; three of full-size bert already take ~10 s (a
# build of 1.2 s and a share of the cap each), so a full-size verdict stays within about that.
# Not the default: replayed over 30 recorded verdicts of 5 full-size models on a noisy host
# (`benchmarks/process_policies.py`), adding processes until ±5% took coverage of the next run's
# median from 71% (3 processes) to 55% (3 to 6): the narrower interval does not narrow the
# differences between runs minutes apart.
ADDED_PROCESSES_BUDGET_FACTOR = 2.0


def wants_more_processes(context: PartitionContext, request: BenchRequest, slices: Slices) -> bool:
    """Whether the partition gets one more process: some row's interval over its processes so far
    is wider than the target (`unstable_between_runs`), and they ran for less than its budget."""
    if slices.wall_s >= ADDED_PROCESSES_BUDGET_FACTOR * request.max_seconds_per_config:
        return False
    rows, _ = _rows_from_slices(context, request, "", slices)
    return any(row.reason_code == ReasonCode.UNSTABLE_BETWEEN_RUNS for row in rows)


def partition_result(
    context: PartitionContext,
    request: BenchRequest,
    slices: Slices,
    *,
    lock_dir: Path | None,
    timeout_s: float,
    memory_cap_bytes: int | None,
    omp_wait_policy: str = "auto",
) -> PartitionResult:
    """The partition's rows from its processes, plus the concurrent scenario where asked for."""
    for outcome in slices.outcomes:
        if not outcome.completed:
            log.warning("%s on %s: %s", context.model_type, context.hardware, outcome.reason)
    run_id = uuid.uuid4().hex
    rows, samples = _rows_from_slices(context, request, run_id, slices)
    rows += skipped_rows(context, request, run_id, only_too_slow=True)
    # Concurrency is worth measuring only once a single stream works.
    for workers in request.workers if rows and rows[0].status in (Status.OK, Status.INVALID) else []:
        outcomes = run_concurrent(
            request,
            workers,
            lock_dir=lock_dir,
            duration_s=request.max_seconds_per_config,
            timeout_s=timeout_s,
            memory_cap_bytes=memory_cap_bytes,
            omp_wait_policy=omp_wait_policy,
        )
        row, worker_samples = concurrent_row(context, request, run_id, workers, outcomes, rows[0].throughput_per_s)
        rows.append(row)
        samples += worker_samples
    return PartitionResult(rows, samples, slices.wall_s)
