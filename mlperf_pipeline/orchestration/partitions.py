"""Partitions: dynamic hardware (what the deployment has or had), dynamic model types (registered in
tier order), and their grid.

Hardware is dynamic so that the grid shows the hardware a deployment has, not a column per device
kind Dagster could be told about (a static list made 2,596 cuda, rocm, mps and xpu partitions
"missing" on a cpu-only host). `register_deployment_hardware` adds the keys; every entry point that
needs them calls it: `make register` and the launchers, `environment_sensor` and the `environment`
observation, and `hardware_inventory` (which runs where the device is).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import dagster as dg

from mlperf_pipeline.hardware.detect import deployment_hardware, present_hardware
from mlperf_pipeline.settings import configured_hardware
from mlperf_pipeline.store.results import read_measured_hardware

hardware_partitions = dg.DynamicPartitionsDefinition(name="hardware")
model_type_partitions = dg.DynamicPartitionsDefinition(name="model_type")
benchmark_partitions = dg.MultiPartitionsDefinition(
    {"hardware": hardware_partitions, "model_type": model_type_partitions}
)

# Hardware-partitioned and model-type-partitioned upstreams of the grid (`environment`, `skillset_overrides`):
# each grid partition depends on its own hardware's / model type's partition only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    BY_HARDWARE = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="hardware")
    BY_MODEL_TYPE = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="model_type")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def split_key(partition_key) -> tuple[str, str]:
    """(hardware, model_type key) of a `hardware|model_type` partition key."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dimensions = partition_key.keys_by_dimension
        return dimensions["hardware"], dimensions["model_type"]
    hardware, _, model_key = str(partition_key).partition("|")
    return hardware, model_key


def contiguous_ranges(wanted: list[str], registered: list[str]) -> list[tuple[str, str]]:
    """Group wanted model keys into runs of neighbours in registration order: one run per range."""
    position = {key: index for index, key in enumerate(registered)}
    missing = [key for key in wanted if key not in position]
    if missing:
        raise ValueError(f"model types not registered as partitions yet: {missing}; materialise model_catalog first")
    ordered = sorted(set(wanted), key=position.__getitem__)
    ranges: list[tuple[str, str]] = []
    for key in ordered:
        if ranges and position[key] == position[ranges[-1][1]] + 1:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges


def range_tags(hardware: str, first_model: str, last_model: str) -> dict[str, str]:
    return {RANGE_START_TAG: f"{hardware}|{first_model}", RANGE_END_TAG: f"{hardware}|{last_model}"}


def register_hardware(instance: dg.DagsterInstance, names: Iterable[str]) -> list[str]:
    """Add the hardware keys not yet registered; returns what was added."""
    existing = set(instance.get_dynamic_partitions(hardware_partitions.name))
    new_keys = [name for name in dict.fromkeys(names) if name not in existing]
    if new_keys:
        instance.add_dynamic_partitions(hardware_partitions.name, new_keys)
    return new_keys


def register_deployment_hardware(instance: dg.DagsterInstance, db_path, extra: Iterable[str] = ()) -> list[str]:
    """Register what this host detects, the settings' `hardware` list, hardware with measured rows in
    the store at `db_path`, and `extra` (hardware a launcher was asked for); returns what was added."""
    wanted = deployment_hardware(present_hardware(), [*configured_hardware(), *extra], read_measured_hardware(db_path))
    return register_hardware(instance, wanted)


def registered_hardware(instance: dg.DagsterInstance) -> list[str]:
    return instance.get_dynamic_partitions(hardware_partitions.name)


def run_partition_keys(context: dg.AssetExecutionContext) -> list:
    """The run's partition keys; a run tagged with a hardware or model type that is not registered
    gets an error naming it and the fix, not Dagster's "not a valid range" (asked for `cuda|bert`
    on a home that never registered `cuda`)."""
    try:
        return context.partition_keys
    except dg.DagsterInvalidInvocationError as error:
        tags = context.run.tags
        asked = [tags[tag] for tag in (RANGE_START_TAG, RANGE_END_TAG, "dagster/partition") if tag in tags]
        unknown = _unregistered(context.instance, [split_key(key) for key in asked])
        if not unknown:
            raise
        raise ValueError(
            f"this run asks for partitions that are not registered: {unknown}; run `make register` "
            "(it registers the catalogue's model types and the deployment's hardware), or list hardware "
            "only the workers have under `hardware` in the settings"
        ) from error


def _unregistered(instance: dg.DagsterInstance, asked: list[tuple[str, str]]) -> dict[str, list[str]]:
    registered = {
        "hardware": set(registered_hardware(instance)),
        "model_type": set(instance.get_dynamic_partitions(model_type_partitions.name)),
    }
    unknown: dict[str, list[str]] = {}
    for hardware, model_key in asked:
        for dimension, key in (("hardware", hardware), ("model_type", model_key)):
            if key not in registered[dimension] and key not in unknown.get(dimension, []):
                unknown.setdefault(dimension, []).append(key)
    return unknown
