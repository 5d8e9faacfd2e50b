"""The HTML report opened offline in headless Chromium: every section, every plot decoded, no console error."""

from __future__ import annotations

from mlperf_pipeline.report.html import render_report
from mlperf_pipeline_tests.browser.conftest import broken_images, console_errors, full_page_screenshot
from mlperf_pipeline_tests.report.conftest import build_ceilings, build_noise, build_results


def test_the_report_renders_offline_with_every_section_and_no_broken_image(browser, tmp_path, artifacts_dir):
    report = render_report(
        build_results(), tmp_path / "report", noise=build_noise(), ceilings=build_ceilings(), latency_bound_ms=20.0
    )
    browser.get(report.html_path.as_uri())
    headings = [element.text for element in browser.find_elements("css selector", "section > h2")]
    assert headings[0] == "Overview" and "Recommendations" in headings and "Leaderboard at full size" in headings
    assert len(headings) == len(report.sections)
    text = browser.find_element("tag name", "body").text
    assert "valid (ok): 8 of 11 (72.7%)" in text and "batch 16: 333.3 items/s" in text
    images = browser.find_elements("tag name", "img")
    assert len(images) == len(report.figures) and broken_images(browser) == []
    assert all(image.size["width"] > 100 for image in images)
    assert console_errors(browser) == []
    full_page_screenshot(browser, artifacts_dir / "report.png")


def test_a_broken_image_is_caught(browser, tmp_path):
    """The check above can fail: a page with an image that does not decode is reported."""
    page = tmp_path / "broken.html"
    page.write_text('<img alt="not a png" src="data:image/png;base64,AAAA">')
    browser.get(page.as_uri())
    assert broken_images(browser) == ["not a png"]
