from __future__ import annotations

import re
from datetime import datetime, timezone

import pandas as pd
import pytest
from markupsafe import escape

from mlperf_pipeline.report.html import ReportFiles, render_report
from mlperf_pipeline_tests.report.conftest import OOM_REASON, SCRIPT_MODEL, build_ceilings, build_noise, build_results

GENERATED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def render(results, tmp_path, **kwargs) -> tuple[ReportFiles, str]:
    files = render_report(results, tmp_path / "out" / "nested", generated_at=GENERATED_AT, **kwargs)
    return files, files.html_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[ReportFiles, str]:
    """The sample report, rendered once: drawing its plots is the slow part of these tests."""
    return render(
        build_results(),
        tmp_path_factory.mktemp("report"),
        noise=build_noise(),
        ceilings=build_ceilings(),
        latency_bound_ms=20.0,
    )


@pytest.fixture(scope="module")
def page(rendered) -> str:
    return rendered[1]


def section_of(page: str, key: str) -> str:
    """The HTML of one section, by its key."""
    match = re.search(rf'<section id="{re.escape(key)}">(.*?)</section>', page, re.S)
    assert match, f"no section {key}"
    return match.group(1)


def test_report_files_are_written(rendered, results):
    files, _ = rendered
    assert files.html_path.name == "report.html"
    assert files.markdown_path.read_text(encoding="utf-8") == files.markdown
    assert files.n_rows == len(results)
    assert files.models == sorted(["bert", "gpt2", "t5", "whisper", "llama", SCRIPT_MODEL])
    folder = files.html_path.parent
    assert sorted(path.name for path in folder.iterdir()) == ["figures", "report.html", "summary.md"]  # no temp files
    assert sorted(path.name for path in (folder / "figures").iterdir()) == sorted(
        path.name for path in files.figures.values()
    )
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in files.figures.values())


def test_every_section_the_data_allows_is_shown_in_order(rendered):
    files, page = rendered
    assert files.sections == [
        "overview", "recommendations", "leaderboard", "roofline", "scaling", "memory", "hardware", "noise",
        "results", "not-ok",
    ]  # fmt: skip
    # no detector has run and nothing was predicted or checked: those sections are left out, not empty
    for absent in ("regressions", "anomalies", "calibration", "coverage"):
        assert f'id="{absent}"' not in page
    links = re.findall(r'<a href="#([^"]+)">', page)
    assert links == files.sections


def test_report_covers_every_model(results, page):
    for model in results["model_type"]:
        assert str(escape(model)) in page


def test_report_embeds_its_plots_and_fetches_nothing(rendered):
    files, page = rendered
    assert page.count('src="data:image/png;base64,') == len(files.figures) >= 6
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page


def test_user_strings_are_escaped(results, tmp_path):
    _, page = render(results, tmp_path, title="<i>nightly</i>")
    assert SCRIPT_MODEL not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<b>target</b>" not in page and "&lt;b&gt;target&lt;/b&gt;" in page
    assert "<i>nightly</i>" not in page and "&lt;i&gt;nightly&lt;/i&gt;" in page


def test_the_overview_says_what_ran_where_and_why_rows_are_not_ok(page):
    overview = section_of(page, "overview")
    assert "2025-01-02 03:04:05+00:00" in page
    assert "NVIDIA H100" in overview and "cpu-3f2a9c" in overview and "cuda-77e1" in overview
    assert "valid (ok): 8 of 11 (72.7%)" in overview
    assert "<td>out_of_memory</td>" in overview and "<td>too_large</td>" in overview
    not_ok = section_of(page, "not-ok")
    assert str(escape(OOM_REASON)) in not_ok and "too_noisy" in not_ok
    assert ">bert<" not in not_ok


def test_the_leaderboard_ranks_full_size_rows_per_hardware(page):
    leaderboard = section_of(page, "leaderboard")
    assert "cpu: 1 model types" in leaderboard and "<td>bert</td>" in leaderboard
    assert "gpt2" not in leaderboard  # measured at tiny size only


def test_the_roofline_shows_each_hardwares_ceilings_and_places_the_counted_rows(page):
    roofline = section_of(page, "roofline")
    assert ">100 GFLOP/s<" in roofline and ">20.0 GB/s<" in roofline and ">512²<" in roofline
    assert "cpu: latency against FLOPs, and the roofline" in roofline and "data:image/png" in roofline
    row = _results_row(page, "bert", "encoder", "cpu", "tiny", "1", "128", "float32", "latency")
    assert ">2.50<" in row and ">41.0<" in row and ">compute<" in row


def test_the_hardware_heatmap_compares_configurations_measured_on_both(page):
    heatmap = section_of(page, "hardware")
    # gpt2 tiny batch 1: 14.2 ms on cpu, 1.3 ms on cuda
    assert "<td>decoder</td>" in heatmap and ">10.9x (1)<" in heatmap
    assert ">1x (" in heatmap  # the reference against itself


def test_a_report_with_one_hardware_and_no_sweep_leaves_those_sections_out(results, tmp_path):
    cpu_batch_1 = results[(results["hardware"] == "cpu") & (results["scenario"] != "batch_sweep")]
    files, _ = render(cpu_batch_1, tmp_path)
    assert "hardware" not in files.sections and "scaling" not in files.sections and "roofline" not in files.sections


def test_empty_frame_renders_no_results(empty_results, tmp_path):
    files, page = render(empty_results, tmp_path)
    assert files.n_rows == 0 and files.models == [] and files.sections == ["overview"]
    assert "No results yet" in page and "No results yet" in files.markdown
    assert "data:image/png" not in page and files.figures == {}


def test_rerender_replaces_report_and_its_figures(results, tmp_path):
    first, _ = render(results, tmp_path)
    files, page = render(results.head(1), tmp_path)
    assert files.n_rows == 1 and "whisper" not in page
    assert sorted(path.name for path in (files.html_path.parent / "figures").iterdir()) == sorted(
        path.name for path in files.figures.values()
    )
    assert len(files.figures) < len(first.figures)


def _results_row(page: str, *cells: str) -> str:
    """The measured-results row (HTML) whose cells start with `cells`."""
    rows = [
        row
        for row in section_of(page, "results").split("<tr>")
        if re.findall(r"<td[^>]*>([^<]*)</td>", row)[: len(cells)] == list(cells)
    ]
    assert len(rows) == 1, cells
    return rows[0]


def test_results_show_each_series_run_to_run_noise(page):
    assert "run-to-run σ</th>" in page
    assert ">±2.4% (7 runs)<" in _results_row(page, "bert", "encoder", "cpu", "tiny", "1", "128", "float32", "latency")
    assert ">n/a (2 runs)<" in _results_row(page, "gpt2", "decoder", "cpu")
    assert ">n/a (0 runs)<" in _results_row(page, "t5")


def test_ceilings_computed_from_kernel_timings_read_as_rates(tmp_path):
    from mlperf_pipeline.bench.ceilings import CeilingPlan, ceiling_rows
    from mlperf_pipeline.hardware.ceilings import CeilingKernel

    plan = CeilingPlan(
        "cpu", threads=2, processes=2,
        only=(CeilingKernel("matmul_flops", "float32", 512, "FLOP/s"), CeilingKernel("copy_bandwidth", "float32", 2**28, "B/s")),
    )  # fmt: skip
    ceilings = ceiling_rows(
        plan, [[{"median_ms": 2.0}, {"median_ms": 20.0}]] * 2, device_name="cpu", env_fingerprint="e"
    )
    report = render_report(build_results(), tmp_path, ceilings=pd.DataFrame(ceilings))
    roofline = section_of(report.html_path.read_text(), "roofline")
    assert ">134 GFLOP/s<" in roofline and ">256 MiB<" in roofline  # 2 x 512³ in 2 ms
    assert ">26.8 GB/s<" in roofline  # 2 x 256 MiB in 20 ms
    assert "## Hardware ceilings (the roofline)" in report.markdown
