"""Skillsets: a generated module per model type and its verdict per hardware partition."""


import hashlib
from pathlib import Path

import dagster as dg

from mlperf_pipeline.hardware.detect import inventory
from mlperf_pipeline.orchestration.automation import outdated_or_missing
from mlperf_pipeline.orchestration.partitions import BY_HARDWARE, BY_MODEL_TYPE, benchmark_partitions, model_type_partitions, split_key
from mlperf_pipeline.orchestration.resources import BenchSettings
from mlperf_pipeline.skillsets.generate import generate, spec_for

SKILLSETS = dg.AssetKey("skillsets")


def _generator_code_version() -> str:
    """Hash of the skillset generator's sources (code and templates): a change re-generates every skillset."""
    import mlperf_pipeline.skillsets as package

    root = Path(package.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".j2", ".jinja") and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


SKILLSETS_CODE_VERSION = _generator_code_version()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SKILLSETS,
            partitions_def=benchmark_partitions,
            deps=[
                "model_catalog",
                dg.AssetDep("environment", partition_mapping=BY_HARDWARE),
                dg.AssetDep("skillset_overrides", partition_mapping=BY_MODEL_TYPE),
            ],
            automation_condition=outdated_or_missing(ignore_missing=("model_catalog",)),
            code_version=SKILLSETS_CODE_VERSION,
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


SKILLSET_OVERRIDES = dg.AssetKey("skillset_overrides")
NO_OVERRIDE = "none"


def override_filename(model_key: str) -> str:
    """The file name a user override of this model type has (the generated module's name)."""
    return f"hf_{model_key.replace('-', '_').replace('.', '_')}.py"


def override_versions(overrides_dir: Path, model_keys: list[str]) -> dict[str, str]:
    """Hash of each type's override file, `none` where there is none. One directory listing, so cheap."""
    present = {path.name: path for path in overrides_dir.glob("hf_*.py")} if overrides_dir.is_dir() else {}
    versions = {}
    for key in model_keys:
        path = present.get(override_filename(key))
        versions[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path is not None else NO_OVERRIDE
    return versions


@dg.observable_source_asset(
    key=SKILLSET_OVERRIDES,
    partitions_def=model_type_partitions,
    group_name="skillsets",
    description="Hash of the user's override file per model type (`<overrides>/hf_<type>.py`), `none` where "
    "there is none. Editing an override changes only that type's version, so only its partitions re-run.",
)
def skillset_overrides(context, bench_settings: BenchSettings) -> dg.DataVersionsByPartition:
    keys = context.instance.get_dynamic_partitions(model_type_partitions.name)
    versions = override_versions(Path(bench_settings.overrides_dir), keys)
    return dg.DataVersionsByPartition({key: dg.DataVersion(version) for key, version in versions.items()})
