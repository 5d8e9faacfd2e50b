"""The report's detection section: standing regressions lead, with history plots; anomalies after."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.regressions import regression_findings
from mlperf_pipeline.report.detection import DetectionInput, write_history_plots
from mlperf_pipeline.report.html import render_report
from mlperf_pipeline_tests.analysis.test_regressions import _noisy, _runs

NOW = datetime(2026, 12, 1)


def _detection(slow_step: bool = True) -> DetectionInput:
    levels = _noisy(20) + _noisy(10, level=130.0 if slow_step else 100.0, seed=2)
    history = pd.DataFrame(_runs(levels) + _runs(_noisy(12, seed=9), model_type="<b>gpt2</b>"))
    rows, _ = regression_findings(history, NOW)
    anomaly = {
        **{key: history[key].iloc[0] for key in ("hardware", "model_type", "size", "batch_size", "seq_len", "dtype")},
        "scenario": "latency",
        "workers": 1,
        "run_id": "bert-7",
        "value": 140.0,
        "expected": 100.0,
        "robust_z": 9.5,
    }
    return DetectionInput(regressions=rows, anomalies=pd.DataFrame([anomaly]), histories=history)


def test_standing_regressions_follow_the_overview_with_their_history_plot(results, tmp_path):
    report = render_report(results, tmp_path, detection=_detection())
    assert report.sections[:3] == ["overview", "regressions", "anomalies"]
    regressions_part, rest = report.markdown.split("## Confirmed regressions (1 standing)")[1].split(
        "## Anomalous results (1)"
    )
    assert "cpu · bert · full" in regressions_part and "+" in regressions_part
    assert "bert-7" in rest and "+9.5" in rest and rest.index("bert-7") < rest.index("## Recommendations")
    html = report.html_path.read_text()
    part = html.split('<section id="regressions">')[1].split("</section>")[0]
    assert "Confirmed regressions (1 standing)" in part and part.count("data:image/png;base64,") == 1
    assert "&lt;b&gt;gpt2" not in part  # the clean series has no finding, so no row and no plot
    assert any(path.name.startswith("regression-") for path in report.figures.values())


def test_without_a_standing_regression_the_section_says_so_and_plots_nothing(results, tmp_path):
    data = _detection(slow_step=False)
    report = render_report(results, tmp_path, detection=data)
    assert "## Confirmed regressions (0 standing)\n\n_No confirmed slowdown stands._" in report.markdown
    assert not any(path.name.startswith("regression-") for path in report.figures.values())
    assert write_history_plots(data, tmp_path / "history") == []
    no_detector = render_report(results, tmp_path / "none")  # no detector has run: no section at all
    assert "Confirmed regressions" not in no_detector.markdown and "regressions" not in no_detector.sections


def test_history_plots_are_written_as_files_one_per_standing_series(tmp_path):
    (path,) = write_history_plots(_detection(), tmp_path / "history")
    assert path.name == "cpu_bert_full_1_128_float32_latency_1.png" and path.read_bytes()[:4] == b"\x89PNG"
