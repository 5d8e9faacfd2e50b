"""Modelling: the calibrated roofline (with its drift history) and the learned predictor, fitted to
what the store holds; the predictor's predictions for every catalogue type."""

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from typing import Optional

import dagster as dg
import pandas as pd

from mlperf_pipeline.hardware.detect import usable_cores
from mlperf_pipeline.isolation.device import device_lock
from mlperf_pipeline.orchestration.automation import refresh_after_results
from mlperf_pipeline.orchestration.metadata import column_schema
from mlperf_pipeline.orchestration.resources import BenchSettings, ResultsStore
from mlperf_pipeline.report.markdown import markdown_table
from mlperf_pipeline.store.modelling import write_predictor_anomalies
from mlperf_pipeline.store.results import records_for, write_table_rows

ROOFLINE_CALIBRATION = dg.AssetKey("roofline_calibration")
PERFORMANCE_PREDICTOR = dg.AssetKey("performance_predictor")
# The predictor's target on held-out architectures (issue: MAPE ≤ 10%).
PREDICTOR_MAPE_BOUND_PCT = 10.0
NOTHING_TO_FIT = "no measured row has FLOPs, bytes, operators and its hardware's ceilings (run `make ceilings`)"
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
        reason = NOTHING_TO_FIT
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
        f"{run.work['model_type'].nunique()} model types, {len(run.drifts)} family(ies) drifted, {seconds:.1f} s"
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


class PredictorConfig(dg.Config):
    """Run config of `performance_predictor` (a public contract)."""

    # Model types left out of training (calibration and booster alike); their predictions are
    # stored with `holdout = true` beside their measurements.
    holdout_model_types: list[str] = []
    # Predict only these types (default: every catalogue type with a model class).
    model_types: Optional[list[str]] = None


@dg.asset(
    key=PERFORMANCE_PREDICTOR,
    deps=["roofline_calibration", "benchmark_results", "hardware_ceilings", "skillsets"],
    automation_condition=refresh_after_results(),
    group_name="modelling",
    kinds={"sklearn", "duckdb"},
    metadata=column_schema("predictions"),
    description="Gradient boosting (scikit-learn) on log(measured / calibrated roofline), with 90% conformal "
    "intervals from held-out-by-architecture residuals (`analysis/predictor.py`). Predicts every catalogue type "
    "on every present hardware over a standard grid (tiny and full, batch 1, 8, 32, seq 128, the hardware's "
    "dtypes), counts from DuckDB `workload_counts` (counted on the meta device once per version), into the "
    "DuckDB `predictions` table. Run config `holdout_model_types` leaves types out of training.",
    check_specs=[
        dg.AssetCheckSpec(
            "predictor_error_within_bound",
            asset=PERFORMANCE_PREDICTOR,
            blocking=False,
            description=f"Warns when the predictor's error on held-out architectures passes "
            f"{PREDICTOR_MAPE_BOUND_PCT:g}% MAPE.",
        )
    ],
)
def performance_predictor(
    context: dg.AssetExecutionContext,
    config: PredictorConfig,
    bench_settings: BenchSettings,
    results_store: ResultsStore,
) -> dg.MaterializeResult:
    from mlperf_pipeline.analysis.predictions import predict_stored
    from mlperf_pipeline.catalog.catalog import build_catalog
    from mlperf_pipeline.skillsets.isolated import IsolatedCalls

    entries = [entry for entry in build_catalog(with_configs=False) if entry.has_model_class]
    known = {entry.model_type for entry in entries}
    for field, names in (
        ("holdout_model_types", config.holdout_model_types),
        ("model_types", config.model_types or []),
    ):
        unknown = sorted(set(names) - known)
        if unknown:
            raise dg.Failure(
                f"performance_predictor config: {field} names types the catalogue does not have (with a model "
                f"class): {unknown}"
            )
    if config.model_types is not None:
        entries = [entry for entry in entries if entry.model_type in set(config.model_types)]
    predicted_at, run_id, started = datetime.now(timezone.utc).replace(tzinfo=None), uuid.uuid4().hex, time.monotonic()
    calls = IsolatedCalls(
        jobs=bench_settings.check_jobs or usable_cores(),
        timeout_s=bench_settings.check_timeout_s,
        memory_cap_bytes=bench_settings.memory_cap_bytes,
    )
    with device_lock(bench_settings.lock_dir, "cpu"):  # counting and fitting are CPU-heavy (DESIGN §5)
        run = predict_stored(
            results_store.path,
            entries,
            Path(bench_settings.skillsets_dir),
            calls,
            holdout=set(config.holdout_model_types),
            predicted_at=predicted_at,
            run_id=run_id,
            progress=context.log.info,
        )
        if run is not None:
            write_table_rows(results_store.path, "predictions", records_for("predictions", run.rows))
            write_predictor_anomalies(results_store.path, records_for("anomalies", run.anomalies))
    seconds = time.monotonic() - started
    if run is None:
        reason = NOTHING_TO_FIT
        context.log.warning(f"performance_predictor: nothing trained: {reason}")
        return dg.MaterializeResult(
            metadata={"predictions": 0, "reason": reason},
            check_results=[dg.AssetCheckResult(check_name="predictor_error_within_bound", passed=True)],
        )
    held_out = run.held_out
    context.log.info(
        f"performance_predictor: {len(run.rows)} predictions for {run.rows['model_type'].nunique()} types, trained on "
        f"{run.trained_rows} rows; held out by architecture: {held_out.to_dict() if held_out else 'n/a'} ({seconds:.0f} s)"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(run.rows),
            "model_types": int(run.rows["model_type"].nunique()),
            "trained_rows": run.trained_rows,
            "holdout_model_types": dg.MetadataValue.json(sorted(config.holdout_model_types)),
            "held_out_by_architecture": dg.MetadataValue.json(held_out.to_dict() if held_out else {}),
            "holdout_accuracy": dg.MetadataValue.json(run.holdout_accuracy.to_dict() if run.holdout_accuracy else {}),
            "model_version": run.model_version,
            # rows ≥ 3 robust sigmas from what a predictor trained without their architecture expects
            "predictor_anomalies": len(run.anomalies),
            "preview": dg.MetadataValue.md(_predictions_preview(run.rows)),
            "seconds": round(seconds, 1),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="predictor_error_within_bound",
                passed=held_out is None or held_out.mape_pct <= PREDICTOR_MAPE_BOUND_PCT,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "bound_pct": PREDICTOR_MAPE_BOUND_PCT,
                    **({"mape_pct": held_out.mape_pct} if held_out else {}),
                },
            )
        ],
    )


def _predictions_preview(rows: pd.DataFrame) -> str:
    """The measured predictions first (prediction beside measurement), then the rest, at most 30."""
    shown = rows.sort_values(["measured_ms", "model_type"], na_position="last").head(30)
    body = [
        [row.model_type, row.hardware, row.size, str(row.batch_size), row.dtype, f"{row.predicted_ms:.3g}",
         f"{row.lower_ms:.3g}–{row.upper_ms:.3g}", "" if pd.isna(row.measured_ms) else f"{row.measured_ms:.3g}",
         "yes" if row.holdout else ""]
        for row in shown.itertuples(index=False)
    ]  # fmt: skip
    headers = ["model", "hardware", "size", "batch", "dtype", "predicted ms", "90% interval", "measured ms", "held out"]
    return markdown_table(headers, body)
