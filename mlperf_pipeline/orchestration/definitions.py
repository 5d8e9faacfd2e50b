"""The one place the Dagster definitions are assembled."""

from __future__ import annotations

import dagster as dg

from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.catalog import model_catalog
from mlperf_pipeline.orchestration.assets.hardware import environment, hardware_inventory
from mlperf_pipeline.orchestration.assets.report import benchmark_report
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.jobs import analysis_job, benchmark_job, ci_smoke_job
from mlperf_pipeline.orchestration.resources import resources_for_deployment
from mlperf_pipeline.orchestration.sensors import model_catalog_sensor


def build_definitions(resources: dict) -> dg.Definitions:
    return dg.Definitions(
        assets=[environment, hardware_inventory, model_catalog, skillsets, benchmark_results, benchmark_report],
        jobs=[ci_smoke_job, benchmark_job, analysis_job],
        sensors=[model_catalog_sensor],
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_definitions(resources_for_deployment())
