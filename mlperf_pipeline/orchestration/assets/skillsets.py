"""Skillsets: a generated module per model type and its verdict per hardware partition."""


from pathlib import Path

import dagster as dg

from mlperf_pipeline.hardware.detect import inventory
from mlperf_pipeline.orchestration.partitions import benchmark_partitions, split_key
from mlperf_pipeline.orchestration.resources import BenchSettings
from mlperf_pipeline.skillsets.generate import generate, spec_for

SKILLSETS = dg.AssetKey("skillsets")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SKILLSETS,
            partitions_def=benchmark_partitions,
            deps=["model_catalog"],
            group_name="skillsets",
            kinds={"python"},
            description="The generated skillset module for the model type (build offline from its config at "
            "tiny and full size, make valid inputs) and its verdict for the partition's hardware. "
            "Data version = hash of the module and the verdict.",
        )
    ],
    partitions_def=benchmark_partitions,
)
def skillsets(context: dg.AssetExecutionContext, bench_settings: BenchSettings):
    devices = inventory()
    out_dir, overrides_dir = Path(bench_settings.skillsets_dir), Path(bench_settings.overrides_dir)
    specs = {}
    materializations = []
    for partition_key in context.partition_keys:
        hardware, model_key = split_key(partition_key)
        if model_key not in specs:
            specs[model_key] = spec_for(model_key)
        record = generate(specs[model_key], devices[hardware], out_dir, overrides_dir, devices)
        context.log.info(f"{partition_key}: {Path(record.path).name} hash {record.source_hash} verdict {record.verdict['sizes']}")
        materializations.append(
            dg.AssetMaterialization(
                SKILLSETS,
                partition=partition_key,
                tags={"dagster/data_version": record.data_version},
                metadata={
                    "path": dg.MetadataValue.path(record.path),
                    "source_hash": record.source_hash,
                    "overridden": record.overridden,
                    "family": record.family,
                    "params_tiny": record.params.get("tiny"),
                    "params_full": record.params.get("full"),
                    "verdict": dg.MetadataValue.json(record.verdict),
                },
            )
        )
    # The step's own output stamps one version on the whole range; the per-partition events that
    # follow it are the latest ones, so each partition keeps its own data version.
    yield dg.Output(None, output_name="skillsets")
    yield from materializations
