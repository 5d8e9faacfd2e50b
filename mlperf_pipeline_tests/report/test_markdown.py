"""The Markdown summary shown in the Dagster UI: the same sections as the HTML, tables cut short."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.report.blocks import Section, Text, section_markdown, table
from mlperf_pipeline.report.html import render_report
from mlperf_pipeline.report.markdown import escape_cell
from mlperf_pipeline_tests.report.conftest import TOO_LARGE_REASON


def summary(results, tmp_path, **tables) -> str:
    return render_report(results, tmp_path, **tables).markdown


def _part(text: str, heading: str) -> str:
    return text.split(f"## {heading}")[1].split("\n## ")[0]


def test_summary_has_heading_and_status_counts(results, tmp_path):
    text = summary(results, tmp_path)
    assert text.startswith("# mlperf_pipeline benchmark summary")
    assert "by status: ok: 8, invalid: 1, failed: 1, skipped: 1" in text
    assert "by hardware: cpu: 9, cuda: 2" in text
    assert "11 results for 6 model types" in text


def test_summary_lists_non_ok_reasons(results, tmp_path):
    text = summary(results, tmp_path)
    assert "too_large" in text and TOO_LARGE_REASON in text
    assert "| skipped | too_large | 1 | llama |" in _part(text, "Overview")
    assert "Tried to allocate 2.00 GiB \\| free" in text  # the pipe is escaped


def test_summary_escapes_html_and_pipes(results, tmp_path):
    text = summary(results, tmp_path)
    assert "<script>" not in text and "<b>" not in text
    assert escape_cell("a|b") == "a\\|b"
    assert escape_cell("line one\nline two") == "line one line two"


def test_measured_table_is_sorted_by_model_and_keeps_the_columns_a_reader_scans(results, tmp_path):
    measured = _part(summary(results, tmp_path), "Measured results (8)")
    models = [line.split("|")[1].strip() for line in measured.splitlines() if line.startswith("| ")]
    assert models[0] == "model" and models[1:] == sorted(models[1:])
    assert (
        "| model | family | hardware | scenario | batch | seq | dtype | p50 ms | CI 95% ms | run-to-run σ |" in measured
    )
    assert "| bert | encoder | cpu | latency | 1 | 128 | float32 | 6.10 | 5.90–6.40 |" in measured


def test_long_reason_is_cut_with_the_full_text_kept_for_the_html(results, tmp_path):
    results.loc[results["model_type"] == "llama", "reason"] = "x" * 500
    text = summary(results, tmp_path)
    assert "x" * 299 + "…" in text and "x" * 300 not in text


def test_a_long_table_shows_its_first_rows_and_says_how_many_more():
    block = table(("n",), [[str(i)] for i in range(40)], markdown_rows=30)
    text = section_markdown(Section("s", "Numbers", (block, Text("nothing", "empty"))))
    assert "| 29 |" in text and "| 30 |" not in text
    assert "_… 10 more rows in the HTML report._" in text and "_nothing_" in text


def test_empty_frame_says_no_results(empty_results, tmp_path):
    for frame in (empty_results, pd.DataFrame(), None):
        assert "No results yet" in summary(frame, tmp_path)


def test_all_null_columns_are_tolerated(tmp_path):
    frame = pd.DataFrame({"model_type": [None, "gpt2"], "status": [None, "failed"]})
    text = summary(frame, tmp_path)
    assert "failed: 1" in text and "unknown: 1" in text


def test_measured_rows_show_their_series_run_to_run_noise(results, noise, tmp_path):
    measured = _part(summary(results, tmp_path, noise=noise), "Measured results (8)")
    assert "| bert | encoder | cpu | latency | 1 | 128 | float32 | 6.10 | 5.90–6.40 | ±2.4% (7 runs) |" in measured
    assert "| gpt2 | decoder | cpu | latency | 1 | 128 | float32 | 14.2 |  | n/a (2 runs) |" in measured
    assert "| t5 | encoder-decoder | cpu | latency | 1 | 128 | bfloat16 | 22.0 | 21.1–23.0 | n/a (0 runs) |" in measured


def test_without_noise_data_the_column_stays_blank(results, tmp_path):
    measured = _part(summary(results, tmp_path), "Measured results (8)")
    assert "| 6.10 | 5.90–6.40 |  |" in measured and "runs)" not in measured


def test_plots_are_named_not_embedded(results, tmp_path):
    text = summary(results, tmp_path)
    assert "_Plot in the HTML report: Throughput vs batch size._" in text and "data:image" not in text
