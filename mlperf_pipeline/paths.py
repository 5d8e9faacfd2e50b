"""Where the pipeline keeps its files: one home folder, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path


def mlperf_home() -> Path:
    """`MLPERF_HOME`, default `.mlperf/` in the working directory; always absolute."""
    return Path(os.environ.get("MLPERF_HOME", ".mlperf")).expanduser().resolve()


def results_db_path() -> Path:
    """`MLPERF_DB`, default `<MLPERF_HOME>/results.duckdb`."""
    configured = os.environ.get("MLPERF_DB")
    return Path(configured).expanduser().resolve() if configured else mlperf_home() / "results.duckdb"


def overrides_dir() -> Path:
    """Hand-written skillsets that replace generated ones (`MLPERF_OVERRIDES`)."""
    configured = os.environ.get("MLPERF_OVERRIDES")
    return Path(configured).expanduser().resolve() if configured else mlperf_home() / "overrides"


def reports_dir() -> Path:
    return mlperf_home() / "reports"
