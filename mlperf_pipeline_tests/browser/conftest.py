"""Headless Chromium for the browser tests: Debian's `chromium` driven through its `chromedriver`.

Never a browser download: the binaries are the Debian packages that `.ci/run` installs. Under
`CI=true` a missing browser fails the tests; elsewhere they skip and say how to install it.
Each test saves a screenshot under `test-artifacts/` (or `MLPERF_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MLPERF_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MLPERF_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = "apt-get install -y chromium chromium-driver (Debian); .ci/run installs them"
# Without these, Chromium reaches for Google's hosts at start, which this closed network refuses.
QUIET_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
)  # fmt: skip


def _missing() -> list[str]:
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).exists() or shutil.which(path))]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    folder = Path(os.environ.get("MLPERF_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path_factory):
    """A fresh browser per test (about a second): no console message of one page reaches the next."""
    missing = _missing()
    if missing:
        message = f"headless Chromium not found ({', '.join(missing)}): {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI=true the browser tests are mandatory")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in QUIET_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def broken_images(driver) -> list[str]:
    """The images of the page that did not load (or decode), by alt text or source."""
    return driver.execute_script(
        "return Array.from(document.images)"
        ".filter(img => !(img.complete && img.naturalWidth > 0))"
        ".map(img => img.alt || img.src.slice(0, 80));"
    )


def console_errors(driver, allowed: tuple[str, ...] = ()) -> list[str]:
    """The page's console messages at SEVERE level, less those containing an allowed fragment."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not any(fragment in entry["message"] for fragment in allowed)
    ]


def full_page_screenshot(driver, path: Path) -> Path:
    """The whole page, not only the window: the window is stretched to the document's height."""
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 16000);")
    driver.set_window_size(1400, max(1000, int(height)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
