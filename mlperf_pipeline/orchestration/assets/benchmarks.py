"""Benchmark results: each partition measured in its own process, written to DuckDB."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import dagster as dg

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.partition import PartitionContext, benchmark_partition
from mlperf_pipeline.bench.request import BENCH_VERSION, BenchGrid
from mlperf_pipeline.bench.runner import child_environment, device_lock
from mlperf_pipeline.bench.versions import STORED_BY_ANOTHER_RUN, BenchmarkVersion
from mlperf_pipeline.hardware.detect import DeviceInfo, detect, usable_cores
from mlperf_pipeline.hardware.fingerprint import environment, fingerprint
from mlperf_pipeline.orchestration.automation import outdated_or_missing
from mlperf_pipeline.orchestration.partitions import BY_HARDWARE, benchmark_partitions, split_key
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.orchestration.run_health import claim_run
from mlperf_pipeline.settings import FORCE_TAG, PROFILE_TAG, benchmark_profile
from mlperf_pipeline.skillsets.generate import SkillsetRecord, load_record
from mlperf_pipeline.store.results import read_stored_inputs, write_partition_results

BENCHMARK_RESULTS = dg.AssetKey("benchmark_results")
DATA_VERSION_TAG = "dagster/data_version"


class BenchmarkConfig(dg.Config):
    """Run config of `benchmark_results` (a public contract).

    A field left unset takes its value from the run's benchmark profile (tag `mlperf/profile`,
    profiles in `defaults.yaml`): range runs get no partition-derived config, so a job's own
    defaults travel as a tag.
    """

    size: Optional[str] = None
    batch_sizes: Optional[list[int]] = None
    seq_lens: Optional[list[int]] = None
    dtypes: Optional[list[str]] = None
    target_ci_pct: Optional[float] = None
    max_seconds_per_config: Optional[float] = None
    threads: Optional[int] = None
    workers: Optional[list[int]] = None

    def resolved(self, profile_name: Optional[str]) -> BenchGrid:
        profile = benchmark_profile(profile_name)
        given = {name: value for name, value in self.model_dump().items() if value is not None}
        return BenchGrid(**{**profile, **given})


@dataclass
class _Range:
    """What every partition of a range run shares, read once per step."""

    grid: BenchGrid
    previous: dict[str, str] | None  # None: forced, measure regardless
    records: dict[str, SkillsetRecord]
    devices: dict[str, DeviceInfo]
    fingerprints: dict[str, str]
    launcher: ForkServerPool | None


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
    keys = context.partition_keys
    # Incremental: a partition whose skillset data version, environment fingerprint, bench version and
    # grid are what its latest materialisation recorded is not measured again, unless the run is forced.
    force = context.run.tags.get(FORCE_TAG, "").lower() in ("1", "true", "yes")
    previous = None if force else _previous_versions(context.instance, [str(key) for key in keys])
    context.log.info(f"benchmarking {len(keys)} partition(s) with {grid.to_dict()}{' (forced)' if force else ''}")
    claim_run(context.instance, context.run.run_id)
    records = {str(key): load_record(Path(bench_settings.skillsets_dir), *split_key(key)) for key in keys}
    devices = {hardware: detect(hardware) for hardware in {record.hardware for record in records.values()}}
    fingerprints = {hardware: fingerprint(environment(device)) for hardware, device in devices.items()}
    model_classes = [record.model_class for record in records.values() if record.model_class]
    launcher = (
        ForkServerPool(lambda policy: child_environment(usable_cores(), policy), model_classes, context.log)
        if bench_settings.launcher == "fork_server"
        else None
    )
    shared = _Range(grid, previous, records, devices, fingerprints, launcher)
    materializations = []
    started = time.monotonic()
    try:
        for index, partition_key in enumerate(keys, start=1):
            materializations.append(
                _one_partition(context, bench_settings, results_store, shared, index, partition_key)
            )
    finally:
        if launcher is not None:
            launcher.close()
    measured = sum(bool(materialization.metadata["measured"].value) for materialization in materializations)
    context.log.info(
        f"measured {measured} of {len(keys)} partition(s); {len(keys) - measured} unchanged ({time.monotonic() - started:.0f} s)"
    )
    yield dg.Output(None, output_name="benchmark_results")
    yield from materializations


def _one_partition(
    context, settings: BenchSettings, store: ResultsStore, shared: _Range, index: int, partition_key
) -> dg.AssetMaterialization:
    """Measure one partition (or confirm it is unchanged) and describe it as a materialisation."""
    record = shared.records[str(partition_key)]
    hardware, grid, previous = record.hardware, shared.grid, shared.previous
    inputs = BenchmarkVersion.of_inputs(record.data_version, shared.fingerprints[hardware], grid)
    if previous is not None and inputs.recorded_in(previous.get(str(partition_key))):
        return dg.AssetMaterialization(
            BENCHMARK_RESULTS,
            partition=partition_key,
            tags={DATA_VERSION_TAG: previous[str(partition_key)]},
            metadata={
                "measured": False,
                "reason": "skillset, environment, bench version and grid unchanged since the last measurement",
            },
        )
    partition = PartitionContext.of_record(
        record, shared.devices[hardware], shared.fingerprints[hardware], grid.size, inputs.encode()
    )
    # Check and measure under the device lock: DuckDB knows partitions that a concurrent run over an
    # overlapping range measured while we waited, or that a killed run stored but never reported.
    with device_lock(settings.lock_dir, hardware):
        stored = (
            None
            if previous is None
            else read_stored_inputs(store.path, hardware, [partition.model_type]).get(partition.model_type)
        )
        if stored == inputs.encode():
            return dg.AssetMaterialization(
                BENCHMARK_RESULTS,
                partition=partition_key,
                tags={DATA_VERSION_TAG: inputs.measured_by(STORED_BY_ANOTHER_RUN).encode()},
                metadata={"measured": False, "reason": "measured by another run while this one waited for the device"},
            )
        result = benchmark_partition(
            partition,
            partition.request(grid),
            lock_dir=None,
            timeout_s=settings.timeout_s,
            memory_cap_bytes=settings.memory_cap_bytes,
            omp_wait_policy=settings.omp_wait_policy,
            fork_servers=shared.launcher,
        )
        write_partition_results(
            store.path,
            result.row_dicts(),
            result.samples,
            dagster_run_id=context.run.run_id,
            hardware=hardware,
            model_type=partition.model_type,
        )
    context.log.info(
        f"[{index}/{len(context.partition_keys)}] {partition_key}: {result.status_counts()} in {result.wall_s:.1f} s"
    )
    return dg.AssetMaterialization(
        BENCHMARK_RESULTS,
        partition=partition_key,
        tags={DATA_VERSION_TAG: inputs.measured_by(result.rows[0].run_id).encode()},
        metadata={**result.summary(), "wall_s": round(result.wall_s, 2), "measured": True},
    )
