"""The benchmark report: a self-contained HTML file, its plots as files, and a Markdown summary in the UI."""

from pathlib import Path

import dagster as dg

from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.settings import report_settings
from mlperf_pipeline.store.modelling import read_calibration_history, read_latest_ceilings, read_latest_predictions
from mlperf_pipeline.store.results import read_current_results, read_series_noise, read_skillset_coverage

MAX_LINKED_FIGURES = 20  # the metadata links this many plot files; the HTML holds every plot


def _stored_inputs(db_path) -> dict:
    """Every table a section draws on, as the store holds it now."""
    # Imported here: matplotlib adds ~0.4 s to loading the definitions, which every CLI run pays.
    from mlperf_pipeline.report.detection import stored_detection_input

    checks = read_skillset_coverage(db_path)
    settings = report_settings()
    return {
        "df": read_current_results(db_path),
        "coverage": checks.astype(object).where(checks.notna(), None).to_dict("records"),
        "noise": read_series_noise(db_path),
        "detection": stored_detection_input(db_path),
        "ceilings": read_latest_ceilings(db_path),
        "predictions": read_latest_predictions(db_path),
        "calibration": read_calibration_history(db_path),
        "latency_bound_ms": settings["latency_bound_ms"],
        "unstable_noise_pct": settings["unstable_noise_pct"],
    }


@dg.asset(
    deps=[
        "benchmark_results",
        "regressions",
        "anomalies",
        "hardware_ceilings",
        "performance_predictor",
        "roofline_calibration",
    ],
    automation_condition=refresh_after_results(),
    group_name="reports",
    kinds={"html"},
    description="One self-contained HTML report in sections (`report/sections/`): an overview (what ran, "
    "coverage, environments, the valid rate and why rows are not ok); confirmed regressions with history plots, then "
    "anomalies; recommendations, each citing the rows it rests on; a leaderboard per hardware at full size; latency "
    "against FLOPs on each hardware's measured roofline; batch-size scaling; memory; a hardware x family heatmap; "
    "calibration (predicted against measured, with the ±10% band) and parameter history; run-to-run noise; skillset "
    "coverage; every result. Each section is left out while it has no data. Its plots are also PNG files beside it, "
    "linked here, and its Markdown summary is shown here.",
)
def benchmark_report(
    context: dg.AssetExecutionContext, bench_settings: BenchSettings, results_store: ResultsStore
) -> dg.MaterializeResult:
    from mlperf_pipeline.report.html import render_report

    inputs = _stored_inputs(results_store.path)
    report = render_report(out_dir=Path(bench_settings.reports_dir), **inputs)
    context.log.info(
        f"report: {report.html_path} ({report.n_rows} rows, {len(report.models)} model types; "
        f"sections {', '.join(report.sections)}; {len(report.figures)} plots)"
    )
    coverage = inputs["coverage"]
    figures = {
        f"plot: {title}": dg.MetadataValue.path(str(path))
        for title, path in list(report.figures.items())[:MAX_LINKED_FIGURES]
    }
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.html_path)),
            "rows": report.n_rows,
            "model_types": len(report.models),
            "sections": ", ".join(report.sections),
            "skillsets_smoke_ok": sum(row["status"] == "ok" for row in coverage),
            "skillsets_checked": len(coverage),
            **figures,
            "summary": dg.MetadataValue.md(report.markdown),
        }
    )
