"""Modelling: the calibrated roofline (with its drift history) fitted to what the store holds."""

import time
import uuid
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.metadata import column_schema
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.report.markdown import markdown_table
from mlperf_pipeline.store.results import records_for, write_table_rows

ROOFLINE_CALIBRATION = dg.AssetKey("roofline_calibration")
# The calibrated roofline's target on held-out architectures (issue: MAPE ≤ 15%).
CALIBRATED_MAPE_BOUND_PCT = 15.0


@dg.asset(
    key=ROOFLINE_CALIBRATION,
    deps=["benchmark_results", "hardware_ceilings"],
    automation_condition=refresh_after_results(),
    group_name="modelling",
    kinds={"duckdb"},
    metadata=column_schema("calibration_params"),
    description="The roofline calibrated to the measurements: predicted time = max(FLOPs / (e_c · ceiling), "
    "bytes / (e_m · bandwidth)) + ops × o, fitted per (hardware, family, dtype) on the log-ratio loss, families "
    "of few types pulled towards their hardware's pooled fit, 95% intervals from a bootstrap over model types "
    "(`analysis/calibration.py`). Each fit is appended to the DuckDB `calibration_params` table with drift "
    "marked (`analysis/drift.py`); accuracy held out by architecture in the metadata. Fits run under the cpu lock.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_calibration_drift",
            asset=ROOFLINE_CALIBRATION,
            blocking=False,
            description="Warns when a fitted parameter moved beyond its noise since the previous fit "
            "(Holm-corrected over every parameter) or a change point appeared in its history.",
        ),
        dg.AssetCheckSpec(
            "held_out_error_within_bound",
            asset=ROOFLINE_CALIBRATION,
            blocking=False,
            description=f"Warns when the calibrated roofline's error on held-out architectures passes "
            f"{CALIBRATED_MAPE_BOUND_PCT:g}% MAPE.",
        ),
    ],
)
def roofline_calibration(
    context: dg.AssetExecutionContext, bench_settings: BenchSettings, results_store: ResultsStore
) -> dg.MaterializeResult:
    from mlperf_pipeline.analysis.modelling import calibrate_stored

    fitted_at, run_id, started = datetime.now(timezone.utc).replace(tzinfo=None), uuid.uuid4().hex, time.monotonic()
    with device_lock(bench_settings.lock_dir, "cpu"):  # CPU-heavy: never beside a measurement (DESIGN §5)
        run = calibrate_stored(results_store.path, fitted_at, run_id)
        if run is not None:
            write_table_rows(results_store.path, "calibration_params", records_for("calibration_params", run.rows))
    seconds = time.monotonic() - started
    if run is None:
        reason = "no measured row has FLOPs, bytes, operators and its hardware's ceilings (run `make ceilings`)"
        context.log.warning(f"roofline_calibration: nothing fitted: {reason}")
        return dg.MaterializeResult(
            metadata={"rows_fitted": 0, "reason": reason},
            check_results=[
                dg.AssetCheckResult(check_name=name, passed=True, metadata={"reason": reason})
                for name in ("no_calibration_drift", "held_out_error_within_bound")
            ],
        )
    context.log.info(
        f"roofline_calibration: {len(run.calibration.params)} groups from {len(run.work)} rows of "
        f"{run.work['model_type'].nunique()} model types, {len(run.drifts)} drifted parameter(s), {seconds:.1f} s"
    )
    held_out = {method: accuracy.to_dict() for method, accuracy in run.held_out.items()}
    calibrated = run.held_out.get("calibrated_roofline")
    return dg.MaterializeResult(
        metadata={
            "rows_fitted": len(run.work),
            "model_types": int(run.work["model_type"].nunique()),
            "groups": len(run.calibration.params),
            "dagster/row_count": len(run.rows),
            "parameters": dg.MetadataValue.md(_params_table(run.rows)),
            "held_out_by_architecture": dg.MetadataValue.json(held_out),
            "drifted": dg.MetadataValue.json([drift.describe() for drift in run.drifts]),
            "seconds": round(seconds, 1),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_calibration_drift",
                passed=not run.drifts,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"drifted": dg.MetadataValue.json([drift.describe() for drift in run.drifts])},
            ),
            dg.AssetCheckResult(
                check_name="held_out_error_within_bound",
                # No held-out figure (fewer than two architecture groups measured) is no evidence of a miss.
                passed=calibrated is None or calibrated.mape_pct <= CALIBRATED_MAPE_BOUND_PCT,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "bound_pct": CALIBRATED_MAPE_BOUND_PCT,
                    **({"mape_pct": calibrated.mape_pct, "held_out_rows": calibrated.n} if calibrated else {}),
                },
            ),
        ],
    )


def _params_table(rows: pd.DataFrame) -> str:
    def interval(row) -> str:
        return "" if pd.isna(row.ci_low) else f"{row.ci_low:.3g}–{row.ci_high:.3g}"

    body = [
        [row.hardware, row.family, row.dtype, row.parameter, f"{row.value:.3g}", interval(row), str(row.n_types),
         "drift" if row.drift else ""]
        for row in rows.itertuples(index=False)
    ]  # fmt: skip
    return markdown_table(["hardware", "family", "dtype", "parameter", "value", "95% CI", "types", ""], body)
