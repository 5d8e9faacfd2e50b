"""Store maintenance: a DuckLake collects a small Parquet file per commit and a snapshot per
transaction; once a week they are merged and the old snapshots expired (`store.maintain`)."""

import time

import dagster as dg

from mlperf_pipeline.orchestration.resources import ResultsStore
from mlperf_pipeline.settings import automation_settings
from mlperf_pipeline.store import maintain

_CONFIG = automation_settings()


@dg.op(description="Merge the results store's small files and expire its old snapshots (a DuckDB file: checkpoint).")
def maintain_results_store(context: dg.OpExecutionContext, results_store: ResultsStore) -> dict:
    started = time.monotonic()
    context.log.info(f"maintaining the results store {results_store.path} ...")
    done = maintain(results_store.path, int(_CONFIG["snapshot_retention_days"]))
    context.log.info(f"results store maintained in {time.monotonic() - started:.1f} s: {done}")
    context.add_output_metadata({**done, "store": str(results_store.path)})
    return done


@dg.job(description="Compact the results store: merge a DuckLake's small files, expire old snapshots.")
def store_maintenance_job():
    maintain_results_store()


store_maintenance_schedule = dg.ScheduleDefinition(
    name="store_maintenance_schedule",
    job=store_maintenance_job,
    cron_schedule=_CONFIG["maintenance_cron"],
    execution_timezone=_CONFIG["timezone"],
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly: store_maintenance_job. Cron and snapshot retention: `automation` in defaults.yaml.",
)
