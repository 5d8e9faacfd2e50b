from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.markdown import REASON_LIMIT, escape_cell, markdown_summary
from mlperf_pipeline_tests.report.conftest import TOO_LARGE_REASON


def test_summary_has_heading_and_status_counts(results):
    text = markdown_summary(results)
    assert text.startswith("## ")
    assert "ok: 7, invalid: 1, failed: 1, skipped: 1" in text
    assert "cpu: 8, cuda: 2" in text
    assert "10 (6 model types)" in text


def test_summary_lists_non_ok_reasons(results):
    text = markdown_summary(results)
    assert "too_large" in text and TOO_LARGE_REASON in text
    assert "out_of_memory" in text
    assert "Tried to allocate 2.00 GiB \\| free" in text  # the pipe is escaped


def test_summary_escapes_html_and_pipes(results):
    text = markdown_summary(results)
    assert "<script>" not in text and "<b>" not in text
    assert escape_cell("a|b") == "a\\|b"
    assert escape_cell("line one\nline two") == "line one line two"


def test_ok_table_sorted_by_model(results):
    text = markdown_summary(results)
    measured = text.split("### Measured")[1].split("### Not ok (failed, skipped or invalid)")[0]
    models = [line.split("|")[1].strip() for line in measured.splitlines() if line.startswith("| ")]
    assert models[0] == "model"
    assert models[1:] == sorted(models[1:])
    assert "| bert | encoder | cpu | latency | 1 | 128 | float32 | 6.10 | 5.90–6.40 |" in measured


def test_long_reason_is_truncated(results):
    results.loc[results["model_type"] == "llama", "reason"] = "x" * 500
    text = markdown_summary(results)
    assert "x" * (REASON_LIMIT - 1) + "…" in text
    assert "x" * REASON_LIMIT not in text


def test_max_rows_limits_tables(results):
    text = markdown_summary(results, max_rows=2)
    assert "_… 5 more rows not shown._" in text
    assert "_… 1 more rows not shown._" in text


def test_empty_frame_says_no_results(empty_results):
    for frame in (empty_results, pd.DataFrame(), None):
        assert "No results yet" in markdown_summary(frame)


def test_all_null_columns_are_tolerated():
    frame = pd.DataFrame({"model_type": [None, "gpt2"], "status": [None, "failed"]})
    text = markdown_summary(frame)
    assert "failed: 1" in text and "unknown: 1" in text


def test_measured_rows_show_their_series_run_to_run_noise(results, noise):
    measured = markdown_summary(results, noise=noise).split("### Measured")[1].split("### Not ok")[0]
    assert "| CI 95% ms | run-to-run σ |" in measured
    assert "| bert | encoder | cpu | latency | 1 | 128 | float32 | 6.10 | 5.90–6.40 | ±2.4% (7 runs) |" in measured
    assert "| gpt2 | decoder | cpu | latency | 1 | 128 | float32 | 14.2 |  | n/a (2 runs) |" in measured
    assert "| t5 | encoder-decoder | cpu | latency | 1 | 128 | bfloat16 | 22.0 | 21.1–23.0 | n/a (0 runs) |" in measured


def test_without_noise_data_the_column_stays_blank(results):
    measured = markdown_summary(results).split("### Measured")[1]
    assert "| 6.10 | 5.90–6.40 |  |" in measured and "runs)" not in measured
