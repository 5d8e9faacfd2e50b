"""The one place the Dagster definitions are assembled."""

from __future__ import annotations

import dagster as dg

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.catalog import model_catalog
from mlperf_pipeline.orchestration.assets.detection import anomalies, regressions
from mlperf_pipeline.orchestration.assets.hardware import environment, hardware_ceilings, hardware_inventory
from mlperf_pipeline.orchestration.assets.modelling import performance_predictor, roofline_calibration
from mlperf_pipeline.orchestration.assets.report import benchmark_report
from mlperf_pipeline.orchestration.assets.skillsets import skillset_overrides, skillsets
from mlperf_pipeline.orchestration.automation import automation_sensor
from mlperf_pipeline.orchestration.jobs import analysis_job, benchmark_job, ceilings_job, ci_smoke_job
from mlperf_pipeline.orchestration.maintenance import store_maintenance_job, store_maintenance_schedule
from mlperf_pipeline.orchestration.resources import Deployment, deployment
from mlperf_pipeline.orchestration.schedules import nightly_schedule
from mlperf_pipeline.orchestration.sensors import (
    environment_sensor,
    model_catalog_sensor,
    dead_run_sensor,
    regression_confirmation_sensor,
    skillset_overrides_sensor,
)
from mlperf_pipeline.settings import automation_settings


def build_definitions(resources: dict, executor: dg.ExecutorDefinition = dg.in_process_executor) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            environment,
            skillset_overrides,
            hardware_inventory,
            hardware_ceilings,
            model_catalog,
            skillsets,
            benchmark_results,
            roofline_calibration,
            performance_predictor,
            regressions,
            anomalies,
            benchmark_report,
        ],
        jobs=[ci_smoke_job, benchmark_job, analysis_job, ceilings_job, store_maintenance_job],
        schedules=[nightly_schedule, store_maintenance_schedule],
        sensors=[
            model_catalog_sensor,
            environment_sensor,
            skillset_overrides_sensor,
            regression_confirmation_sensor,
            dead_run_sensor,
            automation_sensor(int(automation_settings()["automation_interval_s"])),
        ],
        resources=resources,
        executor=executor,
    )


def definitions_for(chosen: Deployment) -> dg.Definitions:
    return build_definitions(chosen.resources(), chosen.executor)


defs = definitions_for(deployment())
