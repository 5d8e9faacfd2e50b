"""A running Dagster webserver, opened in headless Chromium: the report asset's page shows its
description, its latest materialisation's metadata and its summary, with no broken image; the
benchmark grid shows the hardware this deployment has, not every device kind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from mlperf_pipeline.orchestration.assets.report import benchmark_report
from mlperf_pipeline.orchestration.partitions import register_deployment_hardware
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.results import write_partition_results
from mlperf_pipeline_tests.browser.conftest import broken_images, console_errors, full_page_screenshot
from mlperf_pipeline_tests.store.factories import result_row

pytestmark = pytest.mark.slow
STARTUP_TIMEOUT_S = 180
# The UI's own noise, not ours: its telemetry and update checks find no network here.
UI_ALLOWED_ERRORS = ("net::ERR_", "Failed to load resource", "favicon")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster-webserver exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"dagster-webserver did not answer in {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A deployment home with a few runs of bert stored and the report materialised into its instance."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("MLPERF_HOME", str(tmp_path))
    db_path = tmp_path / "results.duckdb"
    for day, latency in enumerate([100.0, 102.0, 98.0, 101.0]):
        row = result_row("bert", measured_at=datetime(2025, 3, 1 + day), latency_ms_p50=latency)
        write_partition_results(db_path, [row], [], dagster_run_id=f"day-{day}", hardware="cpu", model_type="bert")
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("model_type", ["bert", "gpt2"])
        register_deployment_hardware(instance, db_path)  # what `make register` does: cpu, here
        result = dg.materialize([benchmark_report], resources=resources_under(tmp_path, db_path), instance=instance)
    assert result.success
    return tmp_path


@pytest.fixture
def webserver(home):
    port, log = _free_port(), home / "webserver.log"
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-m", "mlperf_pipeline.definitions",
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with open(log, "w") as output:
        # cwd: the home, not the checkout, whose `.env` (written by `make home`) would point Dagster elsewhere.
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_text(browser, *texts: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        body = browser.find_element("tag name", "body").text
        if all(text in body for text in texts):
            return body
        time.sleep(1)
    raise AssertionError(f"the page never showed {texts}; it showed:\n{body[:3000]}")


def _dismiss_welcome(browser) -> None:
    """The UI greets a new instance with a newsletter dialog; it covers the page until skipped."""
    for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
        button.click()


def test_the_report_asset_page_shows_its_description_and_latest_metadata(browser, webserver, home, artifacts_dir):
    browser.get(webserver + "/assets/benchmark_report")
    report_path = str(home / "reports" / "report.html")
    body = _wait_for_text(browser, "benchmark_report", "One self-contained HTML report", report_path, "sections")
    _dismiss_welcome(browser)
    full_page_screenshot(browser, artifacts_dir / "dagster-asset-benchmark_report.png")
    assert "reports" in body and "html" in body  # its group and kind
    assert "overview, recommendations, noise, results" in body  # the sections this store's data allows
    assert broken_images(browser) == []
    assert console_errors(browser, UI_ALLOWED_ERRORS) == []


def test_the_benchmark_grid_shows_only_the_deployments_hardware(browser, webserver, artifacts_dir):
    browser.get(webserver + "/assets/benchmark_results?view=partitions")
    body = _wait_for_text(browser, "2 Partitions Selected", "cpu", "bert", "gpt2")
    _dismiss_welcome(browser)
    full_page_screenshot(browser, artifacts_dir / "dagster-benchmark_results-partitions.png")
    assert not [kind for kind in ("cuda", "rocm", "mps", "xpu") if kind in body], body[:3000]
    assert console_errors(browser, UI_ALLOWED_ERRORS) == []
