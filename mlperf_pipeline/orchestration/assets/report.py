"""The benchmark report: a self-contained HTML file and a Markdown summary in the UI."""

from pathlib import Path

import dagster as dg

from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.store.modelling import read_latest_ceilings
from mlperf_pipeline.store.results import (
    read_current_results,
    read_series_noise,
    read_skillset_coverage,
)


@dg.asset(
    deps=["benchmark_results", "regressions", "anomalies", "hardware_ceilings"],
    automation_condition=refresh_after_results(),
    group_name="reports",
    kinds={"html"},
    description="HTML report (confirmed regressions first, with history plots; anomalous results; the "
    "results table, plots, what could not be measured and why) built from the DuckDB `regressions` and "
    "`anomalies` tables, the `current_results` view with each series' run-to-run σ (`series_noise`), the skillset "
    "coverage table (`current_skillset_checks`, with parameter counts at tiny and full size), each hardware's "
    "measured ceilings (`hardware_ceilings`), plus a "
    "Markdown summary shown here.",
)
def benchmark_report(
    context: dg.AssetExecutionContext, bench_settings: BenchSettings, results_store: ResultsStore
) -> dg.MaterializeResult:
    results = read_current_results(results_store.path)
    checks = read_skillset_coverage(results_store.path)
    coverage = checks.astype(object).where(checks.notna(), None).to_dict("records")
    noise = read_series_noise(results_store.path)
    # Imported here: matplotlib adds ~0.4 s to loading the definitions, which every CLI run pays.
    from mlperf_pipeline.report.detection import stored_detection_input
    from mlperf_pipeline.report.html import render_report

    detection = stored_detection_input(results_store.path)
    report = render_report(
        results,
        Path(bench_settings.reports_dir),
        coverage=coverage,
        noise=noise,
        detection=detection,
        ceilings=read_latest_ceilings(results_store.path),
    )
    context.log.info(f"report: {report.html_path} ({report.n_rows} rows, {len(report.models)} model types)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.html_path)),
            "rows": report.n_rows,
            "model_types": len(report.models),
            "skillsets_smoke_ok": sum(row["status"] == "ok" for row in coverage),
            "skillsets_checked": len(coverage),
            "summary": dg.MetadataValue.md(report.markdown),
        }
    )
