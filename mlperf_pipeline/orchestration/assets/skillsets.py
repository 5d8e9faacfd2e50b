"""Skillsets: a generated module per model type and its verdict per hardware partition."""

import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.hardware.detect import inventory, usable_cores
from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.orchestration.automation import outdated_or_missing
from mlperf_pipeline.orchestration.partitions import (
    BY_HARDWARE,
    BY_MODEL_TYPE,
    benchmark_partitions,
    model_type_partitions,
    run_partition_keys,
    split_key,
)
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.orchestration.routing import check_worker_serves
from mlperf_pipeline.reasons import ReasonCode, Status
from mlperf_pipeline.report.coverage import coverage_by_family, coverage_table
from mlperf_pipeline.skillsets.checks import CheckStore, smoke_modules
from mlperf_pipeline.skillsets.generate import checked_specs, generate
from mlperf_pipeline.skillsets.isolated import DEFAULT_PRELOAD, IsolatedCalls, model_modules
from mlperf_pipeline.skillsets.versions import generator_code_version, override_versions
from mlperf_pipeline.store.results import write_skillset_checks

SKILLSETS = dg.AssetKey("skillsets")


SMOKE_CHECK = dg.AssetCheckKey(SKILLSETS, "smoke")


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
            code_version=generator_code_version(),
            group_name="skillsets",
            kinds={"python"},
            description="The generated skillset module for the model type (build offline from its config at "
            "tiny and full size, make valid inputs) and its verdict for the partition's hardware. "
            "Data version = hash of the module and the verdict.",
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "smoke",
            asset=SKILLSETS,
            partitions_def=benchmark_partitions,
            description="The skillset builds at tiny size on cpu, makes its inputs and runs one forward pass "
            "with finite outputs, in an isolated process. A failure carries its reason_code and message. "
            "The module is the same for every hardware, so each partition shows its model type's cpu outcome.",
        )
    ],
    partitions_def=benchmark_partitions,
)
def skillsets(context: dg.AssetExecutionContext, bench_settings: BenchSettings, results_store: ResultsStore):
    devices = inventory()
    out_dir, overrides_dir = Path(bench_settings.skillsets_dir), Path(bench_settings.overrides_dir)
    keys = run_partition_keys(context)
    check_worker_serves({split_key(key)[0] for key in keys})
    keys_by_model = _partitions_by_model(keys)
    entries = [entry_for(model_key) for model_key in keys_by_model]
    calls = _isolated_calls(bench_settings, [entry.model_class for entry in entries])
    store = CheckStore(out_dir / "checks.json")
    started = time.perf_counter()
    specs = checked_specs(entries, store, calls, log=context.log.info, overrides_dir=overrides_dir)
    records = {}
    for partition_key in context.partition_keys:
        hardware, model_key = split_key(partition_key)
        spec, _ = specs[model_key]
        records[partition_key] = generate(spec, devices[hardware], out_dir, overrides_dir, devices)
    smoke = {model_key: specs[model_key][1] for model_key in keys_by_model}
    overridden = {
        model_key: records[keys[0]].path for model_key, keys in keys_by_model.items() if records[keys[0]].overridden
    }
    smoke.update(smoke_modules(overridden, store, calls))
    context.log.info(
        f"{len(keys_by_model)} skillset(s) generated and smoke-checked in {time.perf_counter() - started:.1f} s"
    )

    rows = [_coverage_row(specs[m][0], records[keys[0]], smoke[m]) for m, keys in keys_by_model.items()]
    write_skillset_checks(results_store.path, rows, context.run_id)
    # The step's own output stamps one version on the whole range; the per-partition events that
    # follow it are the latest ones, so each partition keeps its own data version.
    yield dg.Output(None, output_name="skillsets", metadata=coverage_metadata(rows))
    for partition_key, record in records.items():
        yield _materialization(partition_key, record)
    for partition_key, record in records.items():
        yield _smoke_evaluation(partition_key, smoke[split_key(partition_key)[1]])
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(SMOKE_CHECK))


def _partitions_by_model(partition_keys) -> dict[str, list[str]]:
    keys_by_model: dict[str, list[str]] = {}
    for partition_key in partition_keys:
        keys_by_model.setdefault(split_key(partition_key)[1], []).append(partition_key)
    return keys_by_model


def _isolated_calls(bench_settings: BenchSettings, model_classes: list[str]) -> IsolatedCalls:
    # Checks are CPU-heavy: they hold the cpu device lock so that they never run beside a measurement.
    return IsolatedCalls(
        jobs=bench_settings.check_jobs or usable_cores(),
        timeout_s=bench_settings.check_timeout_s,
        memory_cap_bytes=bench_settings.memory_cap_bytes,
        preload=(*DEFAULT_PRELOAD, *model_modules(model_classes)),
        guard=lambda: device_lock(bench_settings.lock_dir, "cpu"),
    )


def _materialization(partition_key: str, record) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        SKILLSETS,
        partition=partition_key,
        tags={"dagster/data_version": record.data_version},
        metadata={
            "path": dg.MetadataValue.path(record.path),
            "source_hash": record.source_hash,
            "overridden": record.overridden,
            "config_patched": record.patched,
            "family": record.family,
            "params_tiny": record.params.get("tiny"),
            "params_full": record.params.get("full"),
            "verdict": dg.MetadataValue.json(record.verdict),
        },
    )


def _smoke_evaluation(partition_key: str, outcome: dict) -> dg.AssetCheckEvaluation:
    passed = outcome["status"] == Status.OK
    # Plain strings: Dagster refuses enums in metadata.
    metadata = {"reason_code": str(outcome.get("reason_code") or ""), "seconds": outcome.get("seconds")}
    if outcome.get("reason"):
        metadata["reason"] = outcome["reason"]
    if outcome.get("params_tiny") is not None:
        metadata["params_tiny"] = outcome["params_tiny"]
    # A missing optional package is the environment's doing, not the skillset's.
    severity = (
        dg.AssetCheckSeverity.WARN
        if outcome.get("reason_code") == ReasonCode.MISSING_DEPENDENCY
        else dg.AssetCheckSeverity.ERROR
    )
    return dg.AssetCheckEvaluation(
        asset_key=SKILLSETS,
        check_name=SMOKE_CHECK.name,
        passed=passed,
        partition=partition_key,
        metadata={k: v for k, v in metadata.items() if v is not None},
        severity=severity,
    )


def _coverage_row(spec, record, outcome: dict) -> dict:
    return {
        "checked_at": datetime.now(timezone.utc),
        "model_type": spec.model_type,
        "family": spec.entry.family,
        "model_class": spec.entry.model_class,
        "status": (Status.OK if outcome["status"] == Status.OK else Status.FAILED).value,
        "reason_code": outcome.get("reason_code"),
        "reason": outcome.get("reason"),
        "params_tiny": outcome.get("params_tiny") or spec.params.get("tiny"),
        "params_full": spec.params.get("full"),
        "skillset_hash": record.source_hash,
        "overridden": record.user_override,
        "seconds": outcome.get("seconds"),
    }


def coverage_metadata(rows: list[dict]) -> dict:
    """Counts by family and status, and the whole table (model type, family, status, reason)."""
    table = coverage_table(rows)
    ok = sum(row["status"] == Status.OK for row in rows)
    return {
        "types": len(rows),
        "smoke_ok": ok,
        "smoke_ok_pct": round(100 * ok / max(len(rows), 1), 1),
        "missing_dependency": sum(row["reason_code"] == ReasonCode.MISSING_DEPENDENCY for row in rows),
        "by_family": dg.MetadataValue.json(coverage_by_family(rows)),
        "coverage": dg.MetadataValue.md(table),
    }


SKILLSET_OVERRIDES = dg.AssetKey("skillset_overrides")


@dg.observable_source_asset(
    key=SKILLSET_OVERRIDES,
    partitions_def=model_type_partitions,
    group_name="skillsets",
    description="Hash of the user's override files per model type (`<overrides>/hf_<type>.py`, a whole module, "
    "and `<overrides>/hf_<type>.yaml`, a tiny-config patch), `none` where there is none. Editing an override changes only that type's version, so only its partitions re-run.",
)
def skillset_overrides(context, bench_settings: BenchSettings) -> dg.DataVersionsByPartition:
    keys = context.instance.get_dynamic_partitions(model_type_partitions.name)
    versions = override_versions(Path(bench_settings.overrides_dir), keys)
    return dg.DataVersionsByPartition({key: dg.DataVersion(version) for key, version in versions.items()})
