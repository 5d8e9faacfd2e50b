"""The model catalogue, and registration of its types as `model_type` partitions."""

import json
from collections import Counter
from pathlib import Path

import dagster as dg

from mlperf_pipeline.catalog.catalog import CatalogEntry, build_catalog, partition_keys_in_tier_order
from mlperf_pipeline.orchestration.partitions import model_type_partitions
from mlperf_pipeline.orchestration.resources import BenchSettings


def register_model_types(instance: dg.DagsterInstance, keys_in_tier_order: list[str]) -> list[str]:
    """Add the keys not yet registered, in tier order; returns what was added."""
    existing = set(instance.get_dynamic_partitions(model_type_partitions.name))
    new_keys = [key for key in keys_in_tier_order if key not in existing]
    if new_keys:
        instance.add_dynamic_partitions(model_type_partitions.name, new_keys)
    return new_keys


def _markdown_table(entries: list[CatalogEntry]) -> str:
    lines = ["| tier | model type | family | modality | model class |", "|---|---|---|---|---|"]
    lines += [
        f"| {e.tier} | {e.model_type} | {e.family} | {e.modality} | {e.model_class or '—'} |"
        for e in entries
        if e.tier in ("critical", "high")
    ]
    return "\n".join(lines)


@dg.asset(
    group_name="catalog",
    kinds={"python"},
    description="Every model type of the installed transformers: family, modality, tier and model class. "
    "Registers the benchmarkable types as `model_type` partitions in tier order.",
)
def model_catalog(context: dg.AssetExecutionContext, bench_settings: BenchSettings) -> dg.MaterializeResult:
    import transformers

    entries = build_catalog()
    added = register_model_types(context.instance, partition_keys_in_tier_order(entries))
    context.log.info(f"catalogue: {len(entries)} config types; registered {len(added)} new model_type partitions")
    out = Path(bench_settings.home) / "catalog.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([entry.to_row() for entry in entries], indent=1))
    with_class = [entry for entry in entries if entry.has_model_class]
    return dg.MaterializeResult(
        metadata={
            "transformers_version": transformers.__version__,
            "config_types": len(entries),
            "with_model_class": len(with_class),
            "by_family": dg.MetadataValue.json(dict(Counter(e.family for e in with_class))),
            "by_tier": dg.MetadataValue.json(dict(Counter(e.tier for e in with_class))),
            "newly_registered": len(added),
            "path": dg.MetadataValue.path(str(out)),
            "critical_and_high": dg.MetadataValue.md(_markdown_table(entries)),
        },
    )
