"""Jobs. All run in process: one interpreter per run, torch imported once, benchmarks isolated below it."""

from __future__ import annotations

import dagster as dg

from mlperf_pipeline.catalog.catalog import partition_key_for
from mlperf_pipeline.catalog.tiers import CRITICAL
from mlperf_pipeline.orchestration.partitions import range_tags
from mlperf_pipeline.settings import PROFILE_TAG

SMOKE_MODELS = sorted(partition_key_for(model_type) for model_type in CRITICAL)[:5]


ci_smoke_job = dg.define_asset_job(
    "ci_smoke_job",
    selection=["model_catalog", "skillsets", "benchmark_results", "benchmark_report"],
    description=f"Catalogue to report in one run: {', '.join(SMOKE_MODELS)} at tiny size on cpu.",
    tags={**range_tags("cpu", SMOKE_MODELS[0], SMOKE_MODELS[-1]), PROFILE_TAG: "smoke"},
)

benchmark_job = dg.define_asset_job(
    "benchmark_job",
    selection=["skillsets", "benchmark_results"],
    description="Generate skillsets and benchmark them over a partition range "
    "(tags dagster/asset_partition_range_start and _end, e.g. cpu|albert ... cpu|whisper).",
)

analysis_job = dg.define_asset_job(
    "analysis_job",
    selection=["roofline_calibration", "performance_predictor", "regressions", "anomalies", "benchmark_report"],
    description="The calibrated roofline and the predictor, regression and anomaly detection over every stored series, then the "
    "benchmark report (HTML and Markdown), from what is stored in DuckDB.",
)

ceilings_job = dg.define_asset_job(
    "ceilings_job",
    selection=["hardware_ceilings"],
    description="Measure a hardware's roofline ceilings (matrix-product FLOP/s per dtype, memory bandwidth) "
    "into DuckDB `hardware_ceilings`: one run per hardware partition, e.g. `--partition cpu`.",
)
