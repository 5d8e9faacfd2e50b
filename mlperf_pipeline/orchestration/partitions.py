"""Partitions: static hardware, dynamic model types (registered in tier order), and their grid."""

from __future__ import annotations

import warnings

import dagster as dg

from mlperf_pipeline.hardware.detect import HARDWARE

hardware_partitions = dg.StaticPartitionsDefinition(list(HARDWARE))
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
