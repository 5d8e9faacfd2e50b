"""Regression detection over every stored series, and the check that fails on standing slowdowns."""

import time
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from mlperf_pipeline.analysis.regressions import regression_findings, standing_slowdowns
from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.resources import ResultsStore
from mlperf_pipeline.report.markdown import markdown_table
from mlperf_pipeline.store.results import read_pending_regressions, read_results_history, write_regressions

REGRESSIONS = dg.AssetKey("regressions")
NO_CONFIRMED_REGRESSIONS = dg.AssetCheckKey(REGRESSIONS, "no_confirmed_regressions")
_SHOWN = ("model_type", "hardware", "size", "batch_size", "seq_len", "dtype", "method", "state", "severity")


@dg.asset(
    key=REGRESSIONS,
    deps=["benchmark_results"],
    automation_condition=refresh_after_results(),
    group_name="detection",
    kinds={"duckdb"},
    description="Steps in every stored series' latency history (`analysis/steps.py`): change points "
    "(PELT, gated by effect, z and Mann-Whitney) and the latest run against its baseline (per-process "
    "medians), judged in the series' own run-to-run σ. A latest-run finding is `pending` until the next "
    "run confirms or refutes it. Rows merged into the DuckDB `regressions` table, one per (series, first "
    "changed run).",
    check_specs=[
        dg.AssetCheckSpec(
            NO_CONFIRMED_REGRESSIONS.name,
            asset=REGRESSIONS,
            blocking=False,
            description="Fails while a series' latest confirmed finding is a slowdown.",
        )
    ],
)
def regressions(context: dg.AssetExecutionContext, results_store: ResultsStore) -> dg.MaterializeResult:
    started = time.perf_counter()
    history = read_results_history(results_store.path)
    detected_at = datetime.now(timezone.utc).replace(tzinfo=None)
    rows, counts = regression_findings(history, detected_at, read_pending_regressions(results_store.path))
    written = write_regressions(results_store.path, rows.to_dict("records"))
    standing = standing_slowdowns(rows)
    context.log.info(
        f"regressions: {counts['series']} series ({counts['judged']} judged, "
        f"{counts.get('insufficient_history', 0)} with too little history), {written} finding(s), "
        f"{len(standing)} standing slowdown(s) in {time.perf_counter() - started:.1f} s"
    )
    return dg.MaterializeResult(
        metadata={
            **counts,
            "findings_written": written,
            "findings": dg.MetadataValue.md(_table(rows)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_CONFIRMED_REGRESSIONS.name,
                passed=standing.empty,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"standing_slowdowns": len(standing), "slowdowns": dg.MetadataValue.md(_table(standing))},
            )
        ],
    )


def _table(rows: pd.DataFrame) -> str:
    """The findings as a Markdown table (largest change first, at most 50), or a line saying there are none."""
    if rows.empty:
        return "No findings."
    ordered = rows.sort_values("change_pct", ascending=False, key=abs).head(50)
    cells = [
        [str(getattr(row, name)) for name in _SHOWN]
        + [f"{row.change_pct:+.1f}", f"{row.noise_sigma_pct:.1f}", f"{row.p_value:.2g}", row.suspect or ""]
        for row in ordered.itertuples(index=False)
    ]
    return markdown_table([*_SHOWN, "change %", "σ %", "p", "suspect"], cells)
