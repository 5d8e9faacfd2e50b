"""What hardware this host has: the inventory and the per-hardware environment fingerprint."""

import dagster as dg

from mlperf_pipeline.hardware.detect import inventory
from mlperf_pipeline.hardware.fingerprint import environment_versions
from mlperf_pipeline.orchestration.partitions import hardware_partitions


@dg.observable_source_asset(
    partitions_def=hardware_partitions,
    group_name="hardware",
    description="Per-hardware environment fingerprint (library versions, devices, driver, CPU model) "
    "as the data version; `absent` where the hardware is not present.",
)
def environment(context) -> dg.DataVersionsByPartition:
    versions = environment_versions()
    for hardware, version in versions.items():
        context.log.info(f"{hardware}: {version}")
    return dg.DataVersionsByPartition({hardware: dg.DataVersion(version) for hardware, version in versions.items()})


@dg.asset(group_name="hardware", kinds={"python"}, description="Detected devices and their specs on this host.")
def hardware_inventory(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    devices = inventory()
    present = [hardware for hardware, info in devices.items() if info.present]
    context.log.info(f"present hardware: {present}")
    return dg.MaterializeResult(
        metadata={
            "present": dg.MetadataValue.json(present),
            "devices": dg.MetadataValue.json({hardware: info.to_dict() for hardware, info in devices.items()}),
        }
    )
