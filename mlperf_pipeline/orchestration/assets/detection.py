"""Detection over every stored series: regressions (with the check that fails on standing
slowdowns) and anomalous single results."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd

from mlperf_pipeline.analysis.regressions import standing_slowdowns
from mlperf_pipeline.analysis.stored import judge_stored_anomalies, judge_stored_regressions
from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.metadata import column_schema
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.report.markdown import markdown_table
from mlperf_pipeline.store.results import table_rows

REGRESSIONS = dg.AssetKey("regressions")
ANOMALIES = dg.AssetKey("anomalies")
NO_CONFIRMED_REGRESSIONS = dg.AssetCheckKey(REGRESSIONS, "no_confirmed_regressions")
_SHOWN = ("model_type", "hardware", "size", "batch_size", "seq_len", "dtype", "method", "state", "severity")


@dg.asset(
    key=REGRESSIONS,
    deps=["benchmark_results"],
    automation_condition=refresh_after_results(),
    group_name="detection",
    kinds={"duckdb"},
    metadata=column_schema("regressions"),
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
def regressions(
    context: dg.AssetExecutionContext, results_store: ResultsStore, bench_settings: BenchSettings
) -> dg.MaterializeResult:
    detected_at = datetime.now(timezone.utc).replace(tzinfo=None)
    judged = judge_stored_regressions(results_store.path, detected_at, progress=context.log.info)
    rows, counts, written = judged.rows, judged.counts, judged.written
    standing = standing_slowdowns(rows)
    context.log.info(
        f"regressions: {counts['series']} series ({counts['judged']} judged, "
        f"{counts.get('insufficient_history', 0)} with too little history), {written} finding(s), "
        f"{len(standing)} standing slowdown(s) in {judged.seconds:.1f} s"
    )
    plots = (
        _history_plots(results_store.path, Path(bench_settings.reports_dir) / "history") if not standing.empty else []
    )
    return dg.MaterializeResult(
        metadata={
            **counts,
            "dagster/row_count": table_rows(results_store.path, "regressions"),
            "findings_written": written,
            "findings": dg.MetadataValue.md(_table(rows)),
            **({"history_plot": dg.MetadataValue.path(str(plots[0]))} if plots else {}),
            **({"history_plots": dg.MetadataValue.md("\n".join(f"- `{path}`" for path in plots))} if plots else {}),
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


def _history_plots(db_path: str, folder: Path) -> list[Path]:
    """The standing slowdowns' history plots, written as files (largest first) and linked from the
    metadata rather than embedded: the event log stays small."""
    # Imported here: matplotlib adds ~0.4 s to loading the definitions, which every CLI run pays.
    from mlperf_pipeline.report.detection import stored_detection_input, write_history_plots

    data = stored_detection_input(db_path)
    return write_history_plots(data, folder) if data is not None else []


def _table(rows: pd.DataFrame) -> str:
    """The findings as a Markdown table (largest change first, at most 50)."""
    return _largest_first(
        rows,
        "change_pct",
        _SHOWN,
        ["change %", "σ %", "p", "suspect"],
        lambda row: [f"{row.change_pct:+.1f}", f"{row.noise_sigma_pct:.1f}", f"{row.p_value:.2g}", row.suspect or ""],
        "No findings.",
    )


def _largest_first(rows: pd.DataFrame, by: str, shown, headers: list[str], cells, empty: str) -> str:
    """`rows` as a Markdown table, largest |`by`| first (at most 50): the `shown` columns, then
    `cells(row)` under `headers`; `empty` when there are no rows."""
    if rows.empty:
        return empty
    ordered = rows.sort_values(by, ascending=False, key=abs).head(50)
    body = [[str(getattr(row, name)) for name in shown] + cells(row) for row in ordered.itertuples(index=False)]
    return markdown_table([*shown, *headers], body)


@dg.asset(
    key=ANOMALIES,
    deps=["benchmark_results"],
    automation_condition=refresh_after_results(),
    group_name="detection",
    kinds={"duckdb"},
    metadata=column_schema("anomalies"),
    description="Single results far from what their series predicts (`analysis/anomalies.py`): each run "
    "against the median of the other runs of its segment (between accepted change points), flagged when "
    "its robust z-score (1.4826 x MAD of those residuals) is beyond ±3. No fixed contamination rate: a "
    "series whose runs agree has none. Each judged series' rows in the DuckDB `anomalies` table are replaced.",
)
def anomalies(context: dg.AssetExecutionContext, results_store: ResultsStore) -> dg.MaterializeResult:
    detected_at = datetime.now(timezone.utc).replace(tzinfo=None)
    judged = judge_stored_anomalies(results_store.path, detected_at, progress=context.log.info)
    counts = judged.counts
    rate = counts["anomalies"] / counts["scored_runs"] if counts["scored_runs"] else 0.0
    context.log.info(
        f"anomalies: {counts['anomalies']} of {counts['scored_runs']} scored runs ({rate:.2%}) in "
        f"{counts['series']} series in {judged.seconds:.1f} s"
    )
    return dg.MaterializeResult(
        metadata={
            **counts,
            "dagster/row_count": table_rows(results_store.path, "anomalies"),
            "flagged_share": dg.MetadataValue.float(rate),
            "anomalies_table": dg.MetadataValue.md(_anomaly_table(judged.rows)),
        }
    )


_ANOMALY_SHOWN = ("model_type", "hardware", "size", "batch_size", "seq_len", "dtype", "run_id")


def _anomaly_table(rows: pd.DataFrame) -> str:
    """The anomalies as a Markdown table (largest |z| first, at most 50)."""
    return _largest_first(
        rows,
        "robust_z",
        _ANOMALY_SHOWN,
        ["ms", "expected ms", "robust z"],
        lambda row: [f"{row.value:.2f}", f"{row.expected:.2f}", f"{row.robust_z:+.1f}"],
        "No anomalies.",
    )
