"""Benchmark results: each partition measured in its own process, written to DuckDB."""

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import dagster as dg
import pandas as pd
from pydantic import Field

from mlperf_pipeline.analysis.roofline import Roofline, rooflines_of
from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.partition import (
    PartitionContext,
    PartitionResult,
    isolated_slices,
    partition_result,
    passes_over,
    skipped_rows,
)
from mlperf_pipeline.bench.request import BENCH_VERSION, BenchGrid, BenchRequest
from mlperf_pipeline.bench.runner import child_environment
from mlperf_pipeline.bench.versions import STORED_BY_ANOTHER_RUN, BenchmarkVersion
from mlperf_pipeline.hardware.detect import DeviceInfo, detect, usable_cores
from mlperf_pipeline.hardware.fingerprint import environment, fingerprint
from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.orchestration.automation import outdated_or_missing
from mlperf_pipeline.orchestration.metadata import column_schema, results_preview
from mlperf_pipeline.orchestration.partitions import BY_HARDWARE, benchmark_partitions, run_partition_keys, split_key
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.orchestration.routing import check_worker_serves
from mlperf_pipeline.orchestration.run_health import claim_run
from mlperf_pipeline.progress import SliceProgress, duration
from mlperf_pipeline.settings import FORCE_TAG, PROFILE_TAG, benchmark_profile
from mlperf_pipeline.skillsets.generate import SkillsetRecord, load_record
from mlperf_pipeline.skillsets.render import source_hash
from mlperf_pipeline.store.modelling import read_latest_ceilings
from mlperf_pipeline.store.results import (
    read_series_history,
    read_stored_inputs,
    record_environments,
    write_partition_results,
)

BENCHMARK_RESULTS = dg.AssetKey("benchmark_results")
DATA_VERSION_TAG = "dagster/data_version"


class BenchmarkConfig(dg.Config):
    """Run config of `benchmark_results` (a public contract).

    A field left unset takes its value from the run's benchmark profile (tag `mlperf/profile`,
    profiles in `defaults.yaml`): range runs get no partition-derived config, so a job's own
    defaults travel as a tag.
    """

    # A size from `sizes.SIZES`, or a list of them measured in one run (e.g. [full, tiny]): Dagster
    # config has no union of a string and a list, so the type is open here and `BenchGrid` checks it.
    size: Any = Field(default=None, description="a model size (tiny, small, full) or a list of them")
    batch_sizes: Optional[list[int]] = None
    seq_lens: Optional[list[int]] = None
    dtypes: Optional[list[str]] = None
    target_ci_pct: Optional[float] = None
    max_seconds_per_config: Optional[float] = None
    threads: Optional[int] = None
    workers: Optional[list[int]] = None
    processes: Optional[int] = None
    max_processes: Optional[int] = None

    def resolved(self, profile_name: Optional[str]) -> BenchGrid:
        profile = benchmark_profile(profile_name)
        given = {name: value for name, value in self.model_dump().items() if value is not None}
        try:
            return BenchGrid(**{**profile, **given})
        except ValueError as error:
            raise ValueError(
                f"benchmark profile {profile_name or 'default'!r} with run config {given}: {error}"
            ) from error


@dataclass
class _Range:
    """What every partition of a range run shares, read once per step."""

    grid: BenchGrid
    previous: dict[str, str] | None  # None: forced, measure regardless
    records: dict[str, SkillsetRecord]
    devices: dict[str, DeviceInfo]
    fingerprints: dict[str, str]
    launcher: ForkServerPool | None
    rooflines: dict[str, Roofline]  # the latest measured ceilings of each hardware, if any


def _previous_versions(instance: dg.DagsterInstance, keys: list[str]) -> dict[str, str]:
    """Latest data version of each partition, in one indexed query."""
    tags = instance.event_log_storage.get_latest_tags_by_partition(
        BENCHMARK_RESULTS, dg.DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG], asset_partitions=keys
    )
    return {key: value[DATA_VERSION_TAG] for key, value in tags.items() if DATA_VERSION_TAG in value}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            BENCHMARK_RESULTS,
            partitions_def=benchmark_partitions,
            deps=[
                "skillsets",
                dg.AssetDep("environment", partition_mapping=BY_HARDWARE),
            ],
            automation_condition=outdated_or_missing(),
            code_version=f"bench-{BENCH_VERSION}",
            group_name="benchmarks",
            kinds={"duckdb"},
            description="Measurements of the partition's skillset on its hardware, each in an isolated process "
            "with a timeout and memory cap, stored in the DuckDB `benchmark_results` and `benchmark_samples` tables.",
            metadata=column_schema("benchmark_results"),
        )
    ],
    partitions_def=benchmark_partitions,
)
def benchmark_results(
    context: dg.AssetExecutionContext,
    config: BenchmarkConfig,
    bench_settings: BenchSettings,
    results_store: ResultsStore,
):
    # Resolving validates the whole grid before anything runs, so a bad config stores nothing.
    grid = config.resolved(context.run.tags.get(PROFILE_TAG))
    keys = run_partition_keys(context)
    check_worker_serves({split_key(key)[0] for key in keys})
    # Incremental: a partition whose skillset data version, environment fingerprint, bench version and
    # grid are what its latest materialisation recorded is not measured again, unless the run is forced.
    force = context.run.tags.get(FORCE_TAG, "").lower() in ("1", "true", "yes")
    previous = None if force else _previous_versions(context.instance, [str(key) for key in keys])
    context.log.info(f"benchmarking {len(keys)} partition(s) with {grid.to_dict()}{' (forced)' if force else ''}")
    claim_run(context.instance, context.run.run_id)
    records = {str(key): verified_record(Path(bench_settings.skillsets_dir), *split_key(key)) for key in keys}
    devices = {hardware: detect(hardware) for hardware in {record.hardware for record in records.values()}}
    environments = {hardware: environment(device) for hardware, device in devices.items()}
    fingerprints = {hardware: fingerprint(env) for hardware, env in environments.items()}
    # What each fingerprint stands for, so that a regression's suspect can name the versions that changed.
    record_environments(
        results_store.path,
        {hardware: (fingerprints[hardware], env) for hardware, env in environments.items() if env["present"]},
    )
    model_classes = [record.model_class for record in records.values() if record.model_class]
    launcher = (
        ForkServerPool(lambda policy: child_environment(usable_cores(), policy), model_classes, context.log)
        if bench_settings.launcher == "fork_server"
        else None
    )
    shared = _Range(grid, previous, records, devices, fingerprints, launcher, _rooflines(results_store, devices))
    started = time.monotonic()
    try:
        materializations = list(_measure_range(context, bench_settings, results_store, shared))
    finally:
        if launcher is not None:
            launcher.close()
    measured = sum(bool(materialization.metadata["measured"].value) for materialization in materializations)
    context.log.info(
        f"measured {measured} of {len(keys)} partition(s); {len(keys) - measured} unchanged ({time.monotonic() - started:.0f} s)"
    )
    yield dg.Output(None, output_name="benchmark_results")
    yield from materializations


@dataclass
class _Unit:
    """One size of one partition: what the passes measure. A partition of a run over several sizes
    has one unit per size; its rows are written together once its last unit is done."""

    key: str  # the partition key
    context: PartitionContext
    request: BenchRequest
    grid: BenchGrid  # the run's grid at this unit's size


def _unit_key(key: str, size: str, grid: BenchGrid) -> str:
    return key if len(grid.sizes) == 1 else f"{key} {size}"


def _measure_range(context, settings: BenchSettings, store: ResultsStore, shared: _Range):
    """Materialisations of the range: unchanged partitions at once, the others measured in
    `grid.processes` round-robin passes (`bench/passes.py`) over their sizes, each written when
    the last process of its last size is done."""
    grid, units, inputs_of = shared.grid, {}, {}
    for partition_key in context.partition_keys:
        record = shared.records[str(partition_key)]
        inputs = BenchmarkVersion.of_inputs(record.data_version, shared.fingerprints[record.hardware], grid)
        unchanged = _unchanged(context, settings, store, shared, partition_key, inputs)
        if unchanged is not None:
            yield unchanged
            continue
        inputs_of[str(partition_key)] = inputs
        device, env_fingerprint = shared.devices[record.hardware], shared.fingerprints[record.hardware]
        for size in grid.sizes:
            partition = PartitionContext.of_record(record, device, env_fingerprint, size, inputs.encode())
            unit_grid = grid.at_size(size)
            units[_unit_key(str(partition_key), size, grid)] = _Unit(
                str(partition_key), partition, partition.request(unit_grid), unit_grid
            )
    _skip_too_slow(context, settings, store, shared, units)
    limits = {
        "timeout_s": settings.timeout_s,
        "memory_cap_bytes": settings.memory_cap_bytes,
        "omp_wait_policy": settings.omp_wait_policy,
    }
    runnable = {key: (unit.context, unit.request) for key, unit in units.items() if unit.context.runnable}
    if runnable and shared.launcher is not None:
        # The servers of the k slots preload at once, before anything is timed (an idle host gets
        # ACTIVE under `auto`; a loaded one starts its PASSIVE servers when it first needs them).
        policy = settings.omp_wait_policy
        shared.launcher.start("ACTIVE" if policy == "auto" else policy, grid.processes)
    # Each process of each unit is one slice, run one at a time: the pace so far gives the time left.
    pace = SliceProgress(len(runnable), grid.processes)

    def announce(key: str, index: int) -> None:
        again, status = pace.start(key, index)
        plan = _process_plan(grid, index) + (", again: the host was slow" if again else "")
        context.log.info(f"{key}: process {index + 1} ({plan}); slices done {status}")

    run_slice = isolated_slices(
        {key: request for key, (_, request) in runnable.items()},
        lock_dir=settings.lock_dir,
        fork_servers=shared.launcher,
        announce=announce,
        **limits,
    )
    finished = passes_over(runnable, grid, run_slice)
    skipped = ((key, None) for key, unit in units.items() if not unit.context.runnable)
    done: dict[str, list[PartitionResult]] = {key: [] for key in inputs_of}
    for unit_key, slices in itertools.chain(skipped, finished):
        unit = units[unit_key]
        # Under the device lock: the concurrent scenario (`workers`) starts its processes here.
        with device_lock(settings.lock_dir, unit.context.hardware):
            done[unit.key].append(_unit_result(unit, slices, limits))
        if len(done[unit.key]) < len(grid.sizes):  # every partition has one unit per size
            continue
        result = PartitionResult.joined(done.pop(unit.key))
        materialization = _written(context, settings, store, shared, unit, result, inputs_of[unit.key])
        index = len(inputs_of) - len(done)
        context.log.info(
            f"[{index}/{len(inputs_of)}] {unit.key}: {result.status_counts()} in {result.wall_s:.1f} s; "
            f"{duration(pace.progress.elapsed())} elapsed"
        )
        yield materialization


def _unit_result(unit: _Unit, slices, limits: dict) -> PartitionResult:
    if slices is None:
        return PartitionResult(skipped_rows(unit.context, unit.request), [])
    return partition_result(unit.context, unit.request, slices, lock_dir=None, **limits)


def _written(context, settings: BenchSettings, store: ResultsStore, shared: _Range, unit: _Unit, result, inputs):
    """Write a partition's rows of every size in one transaction; its materialisation."""
    hardware = unit.context.hardware
    with device_lock(settings.lock_dir, hardware):
        write_partition_results(
            store.path,
            _under_roofline(result.row_dicts(), shared.rooflines.get(hardware)),
            result.samples,
            dagster_run_id=context.run.run_id,
            hardware=hardware,
            model_type=unit.context.model_type,
        )
    plot = _partition_plot(settings, store, unit, result)
    return dg.AssetMaterialization(
        BENCHMARK_RESULTS,
        partition=unit.key,
        tags={DATA_VERSION_TAG: inputs.measured_by(result.rows[0].run_id).encode()},
        metadata={
            **result.summary(),
            "wall_s": round(result.wall_s, 2),
            "measured": True,
            "dagster/row_count": len(result.rows),
            "results": results_preview(result.rows),
            **({"plot": dg.MetadataValue.path(str(plot))} if plot else {}),
        },
    )


def _partition_plot(settings: BenchSettings, store: ResultsStore, unit: _Unit, result) -> Path | None:
    """This run's latency histogram and each series' history as a PNG file beside the reports
    (`<reports_dir>/partitions/<hardware>/<model_type>.png`); None when nothing was timed."""
    if not result.samples:
        return None
    from mlperf_pipeline.report.partition_plots import partition_plot, write_partition_plot

    hardware, model_type = unit.context.hardware, unit.context.model_type
    history = read_series_history(store.path, hardware, [model_type])
    png = partition_plot(pd.DataFrame(result.samples), history, result.rows[0].run_id, unit.key)
    return write_partition_plot(Path(settings.reports_dir) / "partitions", hardware, model_type, png) if png else None


def _skip_too_slow(context, settings: BenchSettings, store: ResultsStore, shared: _Range, units: dict) -> None:
    """At full size, mark the configurations that cannot reach a verdict in their budget
    (`analysis/budget.py`), from FLOPs counted on the meta device (stored in `workload_counts`)."""
    from mlperf_pipeline.analysis.budget import too_slow
    from mlperf_pipeline.analysis.prediction_grid import CountRequest, counted, counts_version
    from mlperf_pipeline.skillsets.isolated import IsolatedCalls

    # A tiny model is never near its budget; without ceilings there is no estimate.
    full = {
        key: unit
        for key, unit in units.items()
        if unit.grid.size == "full" and unit.context.runnable and shared.rooflines.get(unit.context.hardware)
    }
    if not full:
        return
    requests = [
        CountRequest(u.context.model_type, u.context.family, "full", counts_version("full"),
                     skillset_path=str(u.context.skillset_path), batches=tuple(u.grid.batch_sizes), seq_len=seq)
        for u in full.values()
        for seq in u.grid.seq_lens
    ]  # fmt: skip
    calls = IsolatedCalls(
        jobs=settings.check_jobs or usable_cores(),
        timeout_s=settings.check_timeout_s,
        memory_cap_bytes=settings.memory_cap_bytes,
        guard=lambda: device_lock(settings.lock_dir, "cpu"),
    )
    counts = counted(store.path, requests, calls, progress=context.log.info)
    flops = {(row.model_type, row.batch_size, row.seq_len): row.flops for row in counts.itertuples(index=False)}
    skipped = 0
    for key, unit in full.items():
        model_type, grid = unit.context.model_type, unit.grid
        by_config = {
            (batch, seq, dtype): flops.get((model_type, batch, seq)) for batch, seq, dtype in unit.request.configs()
        }
        reasons = too_slow(
            by_config, shared.rooflines.get(unit.context.hardware), grid.processes, grid.max_seconds_per_config
        )
        if reasons:
            skipped += len(reasons)
            partition = unit.context.with_too_slow(reasons, grid)
            units[key] = _Unit(unit.key, partition, partition.request(grid), grid)
    context.log.info(f"{skipped} configuration(s) skipped before launch as too slow for their time budget")


def _rooflines(store: ResultsStore, devices: dict[str, DeviceInfo]) -> dict[str, Roofline]:
    return rooflines_of(read_latest_ceilings(store.path, list(devices)))


def _under_roofline(rows: list[dict], roofline: Roofline | None) -> list[dict]:
    """The rows with their roofline fraction and bound, where the hardware's ceilings are measured
    (`hardware_ceilings`); without them both stay empty until a later measurement."""
    return rows if roofline is None else [{**row, **roofline.row_fields(row)} for row in rows]


def _process_plan(grid: BenchGrid, index: int) -> str:
    if index < grid.processes:
        return f"of {grid.processes}"
    return f"added: interval wider than ±{grid.target_ci_pct:g}%, at most {grid.process_cap} processes"


def _unchanged(context, settings: BenchSettings, store: ResultsStore, shared: _Range, partition_key, inputs):
    """The materialisation of a partition that needs no measuring, or None: its inputs are what its
    latest materialisation recorded, or another run stored them (e.g. while this one waited)."""
    previous = shared.previous
    if previous is None:  # forced
        return None
    if inputs.recorded_in(previous.get(str(partition_key))):
        return dg.AssetMaterialization(
            BENCHMARK_RESULTS,
            partition=partition_key,
            tags={DATA_VERSION_TAG: previous[str(partition_key)]},
            metadata={
                "measured": False,
                "reason": "skillset, environment, bench version and grid unchanged since the last measurement",
            },
        )
    hardware, model_type = split_key(partition_key)
    # Under the device lock: DuckDB knows partitions that a concurrent run over an overlapping
    # range measured, or that a killed run stored but never reported.
    with device_lock(settings.lock_dir, hardware):
        stored = read_stored_inputs(store.path, hardware, [model_type]).get(model_type)
    if stored != inputs.encode():
        return None
    return dg.AssetMaterialization(
        BENCHMARK_RESULTS,
        partition=partition_key,
        tags={DATA_VERSION_TAG: inputs.measured_by(STORED_BY_ANOTHER_RUN).encode()},
        metadata={"measured": False, "reason": "already measured by another run"},
    )


def verified_record(skillsets_dir: Path, hardware: str, partition_key: str) -> SkillsetRecord:
    """The skillset record this node's `skillsets` step wrote, with its module checked against the
    hash recorded: what is measured is exactly what was generated and smoke-checked."""
    record = load_record(skillsets_dir, hardware, partition_key)
    module = Path(record.path)
    found = source_hash(module.read_text()) if module.is_file() else None
    if found != record.source_hash:
        what = "missing" if found is None else f"not the module recorded (hash {found}, recorded {record.source_hash})"
        raise ValueError(
            f"the skillset module {module} for {hardware}|{partition_key} is {what}: "
            "materialise `skillsets` for this partition again"
        )
    return record
