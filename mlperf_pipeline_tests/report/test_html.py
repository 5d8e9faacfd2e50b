from __future__ import annotations

import re
from datetime import datetime, timezone

import pandas as pd
import pytest
from markupsafe import escape

from mlperf_pipeline.report.html import ReportFiles, render_report
from mlperf_pipeline_tests.report.conftest import OOM_REASON, SCRIPT_MODEL, build_noise, build_results

GENERATED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def render(results, tmp_path, **kwargs) -> tuple[ReportFiles, str]:
    files = render_report(results, tmp_path / "out" / "nested", generated_at=GENERATED_AT, **kwargs)
    return files, files.html_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    """The sample report, rendered once: drawing its plots is the slow part of these tests."""
    return render(build_results(), tmp_path_factory.mktemp("report"), noise=build_noise())[1]


def test_report_files_are_written(results, tmp_path):
    files, _ = render(results, tmp_path)
    assert files.html_path == tmp_path / "out" / "nested" / "report.html"
    assert files.markdown_path.read_text(encoding="utf-8") == files.markdown
    assert files.n_rows == len(results)
    assert files.models == sorted(["bert", "gpt2", "t5", "whisper", "llama", SCRIPT_MODEL])
    assert sorted(path.name for path in files.html_path.parent.iterdir()) == [
        "report.html",
        "summary.md",  # no temp files left behind
    ]


def test_report_covers_every_model(results, page):
    for model in results["model_type"]:
        assert str(escape(model)) in page


def test_report_embeds_plots_and_fetches_nothing(page):
    assert page.count('src="data:image/png;base64,') == 3
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page


def test_user_strings_are_escaped(results, tmp_path):
    _, page = render(results, tmp_path, title="<i>nightly</i>")
    assert SCRIPT_MODEL not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<b>target</b>" not in page and "&lt;b&gt;target&lt;/b&gt;" in page
    assert "<i>nightly</i>" not in page and "&lt;i&gt;nightly&lt;/i&gt;" in page


def test_report_shows_context_and_not_measured(page):
    assert "2025-01-02 03:04:05+00:00" in page
    assert "NVIDIA H100" in page and "cpu-3f2a9c" in page and "cuda-77e1" in page
    not_measured = page.split("<h2>Not ok: failed, skipped or invalid (with the reason)</h2>")[1]
    assert str(escape(OOM_REASON)) in not_measured
    assert "too_large" in not_measured and "too_noisy" in not_measured
    assert ">bert<" not in not_measured


def test_extra_sections_are_escaped_text(results, tmp_path):
    _, page = render(results, tmp_path, extra_sections={"Advice": "use batch 16 <now>"})
    assert "<h2>Advice</h2>" in page and "use batch 16 &lt;now&gt;" in page


def test_empty_frame_renders_no_results(empty_results, tmp_path):
    files, page = render(empty_results, tmp_path)
    assert files.n_rows == 0 and files.models == []
    assert "No results yet" in page and "No results yet" in files.markdown
    assert "data:image/png" not in page


def test_rerender_replaces_report(results, tmp_path):
    render(results, tmp_path)
    files, page = render(results.head(1), tmp_path)
    assert files.n_rows == 1 and "whisper" not in page


def _results_row(page: str, *cells: str) -> str:
    """The results-table row (HTML) whose cells start with `cells`."""
    results = page.split("<h2>Results</h2>")[1].split("<h2>Not ok")[0]
    rows = [
        row for row in results.split("<tr>") if re.findall(r"<td[^>]*>([^<]*)</td>", row)[: len(cells)] == list(cells)
    ]
    assert len(rows) == 1, cells
    return rows[0]


def test_results_show_each_series_run_to_run_noise(page):
    assert "run-to-run σ</th>" in page
    assert ">±2.4% (7 runs)<" in _results_row(page, "bert", "encoder", "cpu", "tiny", "1", "128", "float32", "latency")
    assert ">n/a (2 runs)<" in _results_row(page, "gpt2", "decoder", "cpu")
    assert ">n/a (0 runs)<" in _results_row(page, "t5")


def test_the_roofline_shows_each_hardwares_ceilings_and_each_rows_place_under_them(tmp_path):
    from mlperf_pipeline.bench.ceilings import CeilingPlan, ceiling_rows
    from mlperf_pipeline.hardware.ceilings import CeilingKernel

    plan = CeilingPlan(
        "cpu", threads=2, processes=2,
        only=(CeilingKernel("matmul_flops", "float32", 512, "FLOP/s"), CeilingKernel("copy_bandwidth", "float32", 2**28, "B/s")),
    )  # fmt: skip
    ceilings = ceiling_rows(
        plan, [[{"median_ms": 2.0}, {"median_ms": 20.0}]] * 2, device_name="cpu", env_fingerprint="e"
    )
    results = build_results()
    results.loc[0, ["flops", "roofline_fraction", "bound"]] = [2.5e9, 0.123, "compute"]
    report = render_report(results, tmp_path, ceilings=pd.DataFrame(ceilings))
    page = report.html_path.read_text()
    assert "<h2>Hardware ceilings (the roofline)</h2>" in page
    assert (
        ">134 GFLOP/s<" in page and ">512²<" in page and ">256 MiB<" in page
    )  # 2 x 512³ in 2 ms; 2 x 256 MiB in 20 ms
    assert ">26.8 GB/s<" in page
    assert "## Hardware ceilings (the roofline)" in report.markdown
    row = _results_row(page, "bert", "encoder", "cpu", "tiny", "1", "128", "float32", "latency")
    assert ">2.50<" in row and ">12.3<" in row and ">compute<" in row
    assert "Hardware ceilings" not in render_report(build_results(), tmp_path / "none").html_path.read_text()
