"""Sensors: declared running, since Dagster starts sensors stopped otherwise.

`environment_sensor` and `skillset_overrides_sensor` observe the two observable assets: each tick
computes the current versions (cheap: device detection, one directory listing) and records an
`AssetObservation` (with its `dagster/data_version`) only for partitions whose version changed
since the cursor, so the automation sensor sees exactly what changed.
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from mlperf_pipeline.catalog.catalog import build_catalog, catalog_fingerprint, partition_keys_in_tier_order
from mlperf_pipeline.orchestration.assets.hardware import registered_environment_versions
from mlperf_pipeline.orchestration.assets.skillsets import SKILLSET_OVERRIDES
from mlperf_pipeline.orchestration.partitions import model_type_partitions
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.orchestration.run_health import (
    live_celery_workers,
    mark_dead_runs_failed,
    mark_lost_celery_runs_failed,
)
from mlperf_pipeline.settings import FORCE_TAG, PROFILE_TAG, automation_settings
from mlperf_pipeline.skillsets.versions import override_versions
from mlperf_pipeline.store.results import read_confirmations_due
from mlperf_pipeline.store.schema import SERIES_KEY

ENVIRONMENT = dg.AssetKey("environment")
# On a confirmation run: the run id of the benchmark row whose pending regression it re-measures.
CONFIRMS_TAG = "mlperf/confirms"
_INTERVALS = automation_settings()


@dg.sensor(
    name="model_catalog_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=int(_INTERVALS["catalog_interval_s"]),
    description="Registers new model types as `model_type` partitions in tier order and retires types the "
    "library dropped (their stored results stay). The cursor is a hash of the catalogue, so an unchanged tick is free.",
)
def model_catalog_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    current = catalog_fingerprint()
    if context.cursor == current:
        return dg.SkipReason("catalogue unchanged")
    wanted = partition_keys_in_tier_order(build_catalog(with_configs=False))
    registered = context.instance.get_dynamic_partitions(model_type_partitions.name)
    new_keys = [key for key in wanted if key not in set(registered)]
    dropped = [key for key in registered if key not in set(wanted)]
    context.log.info(f"catalogue {current}: {len(new_keys)} new, {len(dropped)} retired")
    requests = []
    if new_keys:
        requests.append(model_type_partitions.build_add_request(new_keys))
    if dropped:
        # Only the partition key goes: the DuckDB rows and the Dagster event history stay.
        requests.append(model_type_partitions.build_delete_request(dropped))
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=current)


def _changed_observations(
    asset_key: dg.AssetKey, cursor: str | None, current: dict[str, str], what: str
) -> dg.SensorResult | dg.SkipReason:
    previous = json.loads(cursor) if cursor else {}
    changed = {key: version for key, version in current.items() if previous.get(key) != version}
    new_cursor = json.dumps(current, sort_keys=True)
    if not changed:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{what} unchanged"), cursor=new_cursor)
    observations = [
        dg.AssetObservation(
            asset_key,
            partition=key,
            tags={"dagster/data_version": version},
            metadata={"previous": previous.get(key) or "", "version": version},
        )
        for key, version in changed.items()
    ]
    return dg.SensorResult(asset_events=observations, cursor=new_cursor)


@dg.sensor(
    name="environment_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=int(_INTERVALS["environment_interval_s"]),
    description="Registers the deployment's hardware as `hardware` partitions (detected here, the settings' "
    "`hardware` list, or with measured rows stored) and observes `environment`: the fingerprint per hardware "
    "(library versions, devices, driver, CPU), `absent` where the hardware is missing. A changed fingerprint "
    "makes exactly that hardware's partitions outdated.",
)
def environment_sensor(context: dg.SensorEvaluationContext, results_store: ResultsStore) -> dg.SensorResult:
    versions = registered_environment_versions(context.instance, results_store.path)
    return _changed_observations(ENVIRONMENT, context.cursor, versions, "environment")


@dg.sensor(
    name="skillset_overrides_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=int(_INTERVALS["overrides_interval_s"]),
    description="Observes `skillset_overrides`: the hash of each model type's override file (`none` without one). "
    "Editing an override makes exactly that type's partitions outdated.",
)
def skillset_overrides_sensor(context: dg.SensorEvaluationContext, bench_settings: BenchSettings) -> dg.SensorResult:
    keys = context.instance.get_dynamic_partitions(model_type_partitions.name)
    current = override_versions(Path(bench_settings.overrides_dir), keys)
    return _changed_observations(SKILLSET_OVERRIDES, context.cursor, current, "overrides")


@dg.sensor(
    name="regression_confirmation_sensor",
    job_name="benchmark_job",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=int(_INTERVALS["confirmation_interval_s"]),
    description="Re-measures each `pending` regression once, forced, with the flagged series' own size, "
    "batch size, sequence length, dtype and process count, under the profile and run config of the run that "
    "measured the flagged row (a default run would measure something else), one request per finding "
    "(`run_key`). The next `regressions` evaluation then confirms or refutes it.",
)
def regression_confirmation_sensor(
    context: dg.SensorEvaluationContext, results_store: ResultsStore
) -> dg.SensorResult | dg.SkipReason:
    due = read_confirmations_due(results_store.path)
    if due.empty:
        return dg.SkipReason("no pending regression waits for a re-measurement")
    requests = [_confirmation_request(row, context.instance) for row in due.to_dict("records")]
    context.log.info(f"re-measuring {len(requests)} pending regression(s)")
    return dg.SensorResult(run_requests=requests)


@dg.sensor(
    name="dead_run_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=int(_INTERVALS["dead_run_interval_s"]),
    description="Marks runs whose process died as failed, so nothing waits on them and run_retries can launch "
    "them again: this host's runs whose process is gone, and on a cluster the started runs whose Celery task no "
    "live worker has had for `dead_run_grace_s` (a worker killed whole, which Dagster's run monitoring cannot see).",
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = mark_dead_runs_failed(context.instance)
    workers = live_celery_workers(context.instance)
    if workers is not None:
        missing_since = json.loads(context.cursor) if context.cursor else {}
        lost, missing_since = mark_lost_celery_runs_failed(
            context.instance, workers, missing_since, float(_INTERVALS["dead_run_grace_s"])
        )
        failed += lost
        context.update_cursor(json.dumps(missing_since))
        if missing_since:
            context.log.info(
                f"runs whose Celery task no live worker has (failed after the grace): {sorted(missing_since)}"
            )
    if failed:
        context.log.warning(f"marked failed, their process being gone: {', '.join(failed)}")
        return dg.SkipReason(f"marked {len(failed)} dead run(s) failed: {', '.join(failed)}")
    return dg.SkipReason("no dead run")


def _confirmation_request(row: dict, instance: dg.DagsterInstance) -> dg.RunRequest:
    """One forced run of the flagged series: the flagged run's own `benchmark_results` config and
    profile tag where Dagster still has that run, with the series' configuration on top."""
    flagged_config, profile = _flagged_run_settings(instance, row.get("dagster_run_id"))
    config = {**flagged_config, "size": row["size"], "batch_sizes": [int(row["batch_size"])], "dtypes": [row["dtype"]]}
    if not pd.isna(row["seq_len"]):  # no sequence for pixel inputs: the profile's default stands
        config["seq_lens"] = [int(row["seq_len"])]
    if not pd.isna(row["n_processes"]):
        config["processes"] = int(row["n_processes"])
    series = "/".join(str(row[name]) for name in SERIES_KEY)
    tags = {FORCE_TAG: "true", CONFIRMS_TAG: row["run_id"], **({PROFILE_TAG: profile} if profile else {})}
    return dg.RunRequest(
        run_key=f"confirm:{series}:{row['run_id']}",
        partition_key=f"{row['hardware']}|{row['model_type']}",
        run_config={"ops": {"benchmark_results": {"config": config}}},
        tags=tags,
    )


def _flagged_run_settings(instance: dg.DagsterInstance, dagster_run_id) -> tuple[dict, str | None]:
    """The `benchmark_results` run config and profile tag of the run that stored the flagged row;
    nothing when Dagster no longer has it (another instance, a wiped home)."""
    run = instance.get_run_by_id(dagster_run_id) if isinstance(dagster_run_id, str) else None
    if run is None:
        return {}, None
    config = (run.run_config or {}).get("ops", {}).get("benchmark_results", {}).get("config", {})
    return dict(config), run.tags.get(PROFILE_TAG)
