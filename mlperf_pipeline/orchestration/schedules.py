"""The nightly schedule: sentinels re-measured for a noise baseline, then whatever is missing or outdated.

Each launch is one `benchmark_job` run per contiguous partition range (`contiguous_ranges`), with
the range tags. Sentinel runs carry `mlperf/force=true`, so they measure even when nothing changed;
the others are incremental (the benchmark asset skips partitions whose inputs are unchanged). The
report refreshes through its automation condition once the new data versions have landed and no
benchmark run is in progress.
"""

import dagster as dg

from mlperf_pipeline.bench.request import BENCH_VERSION
from mlperf_pipeline.bench.versions import measurement
from mlperf_pipeline.catalog.catalog import build_catalog, partition_key_for, select
from mlperf_pipeline.catalog.tiers import CRITICAL, HIGH
from mlperf_pipeline.hardware.fingerprint import environment_versions
from mlperf_pipeline.orchestration.assets.benchmarks import BENCHMARK_RESULTS, DATA_VERSION_TAG
from mlperf_pipeline.orchestration.jobs import benchmark_job
from mlperf_pipeline.orchestration.partitions import (
    contiguous_ranges,
    model_type_partitions,
    range_tags,
    registered_hardware,
)
from mlperf_pipeline.settings import FORCE_TAG, PROFILE_TAG, automation_settings

NIGHTLY_TAG = "mlperf/nightly"


def tier_keys(tier: str, registered: list[str]) -> list[str]:
    """Registered model keys in a cumulative tier (cheap for critical/high, the catalogue otherwise)."""
    if tier == "all":
        return list(registered)
    if tier in ("critical", "high"):
        names = CRITICAL | (HIGH if tier == "high" else frozenset())
        wanted = {partition_key_for(name) for name in names}
    else:
        wanted = {entry.partition_key for entry in select(build_catalog(with_configs=False), tier=tier)}
    return [key for key in registered if key in wanted]


def missing_or_outdated(instance: dg.DagsterInstance, hardware: str, keys: list[str], env_version: str) -> list[str]:
    """Keys of this hardware never materialised, or measured under another environment or bench version."""
    partitions = [f"{hardware}|{key}" for key in keys]
    latest = instance.event_log_storage.get_latest_tags_by_partition(
        BENCHMARK_RESULTS, dg.DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG], asset_partitions=partitions
    )
    wanted = []
    for key, partition in zip(keys, partitions):
        version = measurement(latest.get(partition, {}).get(DATA_VERSION_TAG))
        if version is None or version.environment != env_version or version.bench != BENCH_VERSION:
            wanted.append(key)
    return wanted


def nightly_run_requests(
    instance: dg.DagsterInstance, run_key_prefix: str, env_versions: dict[str, str] | None = None
) -> list[dg.RunRequest]:
    config = automation_settings()
    registered = instance.get_dynamic_partitions(model_type_partitions.name)
    if not registered:
        return []
    env_versions = env_versions or environment_versions()
    sentinels = tier_keys(config["sentinel_tier"], registered)
    sentinels += [
        partition_key_for(name)
        for name in config["sentinel_models"]
        if partition_key_for(name) in registered and partition_key_for(name) not in sentinels
    ]
    scope = tier_keys(config["nightly_tier"], registered)
    # Sentinels get real sizes (their history is what regressions are judged on); the sweep of the
    # rest stays the cheap coverage pass, so that a first night over the catalogue ends by morning.
    sentinel_tags = {PROFILE_TAG: config["sentinel_profile"], NIGHTLY_TAG: "true"}
    base_tags = {PROFILE_TAG: config["nightly_profile"], NIGHTLY_TAG: "true"}
    requests = []
    for hardware in registered_hardware(instance):  # what the deployment has or had, not every device kind
        present = env_versions.get(hardware, "absent") != "absent"
        forced = sentinels if present else []
        for first, last in contiguous_ranges(forced, registered):
            requests.append(
                dg.RunRequest(
                    run_key=f"{run_key_prefix}:sentinel:{hardware}:{first}:{last}",
                    tags={**range_tags(hardware, first, last), **sentinel_tags, FORCE_TAG: "true"},
                )
            )
        rest = [
            key
            for key in missing_or_outdated(instance, hardware, scope, env_versions.get(hardware, "absent"))
            if key not in set(forced)
        ]
        for first, last in contiguous_ranges(rest, registered):
            requests.append(
                dg.RunRequest(
                    run_key=f"{run_key_prefix}:update:{hardware}:{first}:{last}",
                    tags={**range_tags(hardware, first, last), **base_tags},
                )
            )
    return requests


_CONFIG = automation_settings()


@dg.schedule(
    name="nightly_schedule",
    cron_schedule=_CONFIG["nightly_cron"],
    execution_timezone=_CONFIG["timezone"],
    job=benchmark_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: re-measures the sentinel set (default the `critical` tier) on every present hardware "
    "(tag mlperf/force=true), plus every missing or outdated partition, one run per contiguous range; the report "
    "refreshes after them (automation). Cron and timezone: `automation` in defaults.yaml, MLPERF_NIGHTLY_CRON, MLPERF_TIMEZONE.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time
    prefix = f"nightly:{tick.isoformat() if tick else 'manual'}"
    requests = nightly_run_requests(context.instance, prefix)
    if not requests:
        return dg.SkipReason(
            "no model_type partitions registered yet (model_catalog_sensor or `make register` does that)"
        )
    context.log.info(f"nightly: {len(requests)} run(s)")
    return requests
