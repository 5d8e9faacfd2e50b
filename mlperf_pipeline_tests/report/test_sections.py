"""Sections that need tables beyond the results: calibration, coverage, and a section's own skip rule."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.html import render_report
from mlperf_pipeline.report.sections import ReportData, build_sections
from mlperf_pipeline.report.sections import calibration as calibration_section


def _prediction(model_type: str, predicted: float, measured: float, holdout: bool) -> dict:
    return {
        "hardware": "cpu", "model_type": model_type, "size": "tiny", "batch_size": 1, "seq_len": 128,
        "dtype": "float32", "predicted_ms": predicted, "measured_ms": measured, "holdout": holdout,
    }  # fmt: skip


PREDICTIONS = pd.DataFrame(
    [
        _prediction("bert", 10.5, 10.0, False),  # +5%
        _prediction("gpt2", 9.0, 10.0, False),  # -10%
        _prediction("t5", 13.0, 10.0, True),  # +30%, a held-out type
        {**_prediction("vit", 5.0, None, False)},  # never measured: not compared
    ]
)


def _fit(day: int, value: float) -> list[dict]:
    when = pd.Timestamp(2025, 1, day)
    return [
        {"fitted_at": when, "hardware": "cpu", "family": "*", "dtype": "float32", "parameter": name, "value": value * scale,
         "ci_low": value * scale * 0.9, "ci_high": value * scale * 1.1, "n_types": 12, "drift": day == 2,
         "drift_method": "change_point" if day == 2 else None}
        for name, scale in (("e_compute", 1.0), ("e_memory", 0.5), ("overhead_s", 1e-5))
    ]  # fmt: skip


CALIBRATION = pd.DataFrame(_fit(1, 0.6) + _fit(2, 0.5))


def test_accuracy_is_split_by_held_out_types_with_the_share_inside_the_band():
    rows = calibration_section.accuracy_rows(calibration_section._compared(PREDICTIONS))
    assert rows == [
        ["cpu", "trained types", "2", "2", "7.5%", "100%"],
        ["cpu", "held-out types", "1", "1", "30.0%", "0%"],
    ]


def test_the_calibration_section_shows_predictions_the_latest_fit_and_its_history(results, tmp_path):
    report = render_report(results, tmp_path, predictions=PREDICTIONS, calibration=CALIBRATION)
    assert "calibration" in report.sections
    part = report.markdown.split("## Calibration and prediction")[1].split("\n## ")[0]
    assert "| cpu | held-out types | 1 | 1 | 30.0% | 0% |" in part
    assert "| cpu | * | float32 | e_compute | 0.5 | 0.45–0.55 | 12 | change_point |" in part
    assert "| cpu | * | float32 | e_compute | 0.6 |" not in part  # only the latest fit's table
    titles = [title for title in report.figures if "band" in title or "over the fits" in title]
    assert titles == ["Predicted against measured, with the ±10% band", "Calibration parameters over the fits"]


def test_one_fit_has_no_history_plot_and_no_measured_prediction_no_accuracy(results):
    data = ReportData.of(results, calibration=CALIBRATION[CALIBRATION["fitted_at"] == pd.Timestamp(2025, 1, 1)])
    (section,) = [section for section in build_sections(data) if section.key == "calibration"]
    assert section.plots == [] and "median |error|" not in str(section.blocks)


def test_coverage_lists_failures_first_and_the_summary_only_them(results, tmp_path):
    coverage = [
        {"model_type": "bert", "family": "encoder", "status": "ok", "params_tiny": 4_400_000, "params_full": 110_000_000},
        {"model_type": "fuyu", "family": "vision-text", "status": "failed", "reason_code": "build_error",
         "reason": "needs an image processor", "params_tiny": None, "params_full": None},
    ]  # fmt: skip
    report = render_report(results, tmp_path, coverage=coverage)
    part = report.markdown.split("## Skillset coverage (tiny size, cpu)")[1].split("\n## ")[0]
    assert "1 of 2 types run at tiny size on cpu (50.0%)." in part
    assert "| fuyu | vision-text | failed | build_error | — | — | needs an image processor |" in part
    assert "| bert | encoder | ok |" not in part
    html = report.html_path.read_text()
    section = html.split('<section id="coverage">')[1]
    assert section.index("fuyu") < section.index("bert") and "110.00 M" in section
    assert "skillsets: 1 of 2 model types build and run at tiny size" in report.markdown
