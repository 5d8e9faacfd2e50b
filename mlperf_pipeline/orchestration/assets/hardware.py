"""What hardware this host has: the inventory, the per-hardware environment fingerprint, and the
measured ceilings of each present hardware (its roofline)."""

import time
from typing import Optional

import dagster as dg

from mlperf_pipeline.analysis.roofline import Roofline
from mlperf_pipeline.bench.ceilings import (
    CEILINGS_VERSION,
    DEFAULT_PROCESSES,
    DEFAULT_SECONDS_PER_KERNEL,
    CeilingPlan,
    measure_ceilings,
)
from mlperf_pipeline.hardware.detect import detect, inventory, usable_cores
from mlperf_pipeline.hardware.dtypes import can_time
from mlperf_pipeline.hardware.fingerprint import environment as environment_of
from mlperf_pipeline.hardware.fingerprint import environment_versions, fingerprint
from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.orchestration.automation import outdated_or_missing
from mlperf_pipeline.orchestration.metadata import column_schema
from mlperf_pipeline.orchestration.partitions import (
    hardware_partitions,
    register_deployment_hardware,
    register_hardware,
    registered_hardware,
)
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.orchestration.routing import check_worker_serves
from mlperf_pipeline.report.ceilings import ceiling_rows, ceilings_table
from mlperf_pipeline.store.results import write_table_rows


def registered_environment_versions(instance: dg.DagsterInstance, db_path) -> dict[str, str]:
    """The environment version of each registered hardware, after registering the deployment's hardware."""
    register_deployment_hardware(instance, db_path)
    versions = environment_versions()
    return {hardware: versions[hardware] for hardware in registered_hardware(instance)}


@dg.observable_source_asset(
    partitions_def=hardware_partitions,
    group_name="hardware",
    required_resource_keys={"results_store"},
    description="Per-hardware environment fingerprint (library versions, devices, driver, CPU model) "
    "as the data version; `absent` where the hardware is not present. Its partitions are the hardware "
    "the deployment has or had (registered on observation: detected, the settings' `hardware` list, "
    "or with measured rows stored).",
)
def environment(context) -> dg.DataVersionsByPartition:
    versions = registered_environment_versions(context.instance, context.resources.results_store.path)
    for hardware, version in versions.items():
        context.log.info(f"{hardware}: {version}")
    return dg.DataVersionsByPartition({hardware: dg.DataVersion(version) for hardware, version in versions.items()})


@dg.asset(
    group_name="hardware",
    kinds={"python"},
    description="Detected devices and their specs on this host; registers the present ones as `hardware` "
    "partitions (on a cluster, materialise it on a node that has the device).",
)
def hardware_inventory(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    devices = inventory()
    present = [hardware for hardware, info in devices.items() if info.present]
    added = register_hardware(context.instance, present)
    context.log.info(f"present hardware: {present}; newly registered as partitions: {added}")
    return dg.MaterializeResult(
        metadata={
            "present": dg.MetadataValue.json(present),
            "newly_registered": dg.MetadataValue.json(added),
            "devices": dg.MetadataValue.json({hardware: info.to_dict() for hardware, info in devices.items()}),
        }
    )


class CeilingsConfig(dg.Config):
    """Run config of `hardware_ceilings`."""

    processes: int = DEFAULT_PROCESSES  # independent processes, one after another
    seconds_per_kernel: float = DEFAULT_SECONDS_PER_KERNEL  # each process's time per kernel
    threads: Optional[int] = None  # default: the usable cores, as benchmarks use


@dg.asset(
    partitions_def=hardware_partitions,
    deps=["environment"],
    group_name="hardware",
    kinds={"pytorch", "duckdb"},
    automation_condition=outdated_or_missing(missing_on_change=True),
    code_version=f"ceilings-{CEILINGS_VERSION}",
    description="Measured matrix-product FLOP/s per dtype and size, and memory bandwidth (copy, triad): the "
    "roofline of the hardware. Measured in isolated processes under the device lock, with an interval over "
    "the processes; appended to the DuckDB `hardware_ceilings` table. Re-measured when the hardware's "
    "environment fingerprint changes.",
    metadata=column_schema("hardware_ceilings"),
)
def hardware_ceilings(
    context: dg.AssetExecutionContext,
    config: CeilingsConfig,
    bench_settings: BenchSettings,
    results_store: ResultsStore,
) -> dg.MaterializeResult:
    hardware = context.partition_key
    check_worker_serves([hardware])
    device = detect(hardware)
    if not device.present or not can_time(hardware):
        reason = f"no {hardware} device on this host" if not device.present else f"no timer for {hardware} yet"
        context.log.info(f"{hardware}: nothing measured ({reason})")
        return dg.MaterializeResult(
            metadata={"measured": False, "reason": reason}, data_version=dg.DataVersion("absent")
        )
    if config.processes < 1 or config.seconds_per_kernel <= 0:
        raise dg.Failure(
            f"hardware_ceilings config: processes must be ≥ 1 and seconds_per_kernel > 0, got "
            f"processes={config.processes}, seconds_per_kernel={config.seconds_per_kernel}"
        )
    plan = CeilingPlan(hardware, config.threads or usable_cores(), config.processes, config.seconds_per_kernel)
    context.log.info(f"{hardware}: {len(plan.kernels())} kernels in {plan.processes} processes, {plan.threads} threads")
    started = time.monotonic()
    rows = measure_ceilings(
        plan,
        lock_dir=bench_settings.lock_dir,
        device_name=(device.device_names or [None])[0],
        env_fingerprint=fingerprint(environment_of(device)),
        progress=context.log.info,
    )
    with device_lock(bench_settings.lock_dir, hardware):  # one writer on this host at a time
        write_table_rows(results_store.path, "hardware_ceilings", rows)
    roofline = Roofline.from_ceilings(hardware, rows)
    context.log.info(f"{hardware}: ceilings measured in {time.monotonic() - started:.0f} s")
    return dg.MaterializeResult(
        metadata={
            "measured": True,
            "dagster/row_count": len(rows),
            "bandwidth_gb_s": round(roofline.bytes_per_s / 1e9, 2),
            **{f"peak_{dtype}_gflop_s": round(rate / 1e9, 1) for dtype, rate in roofline.flops_per_s.items()},
            "ceilings": dg.MetadataValue.md(ceilings_table(ceiling_rows(rows))),
            "seconds": round(time.monotonic() - started, 1),
        },
        data_version=dg.DataVersion(rows[0]["run_id"]),
    )
