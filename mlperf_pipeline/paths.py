"""Where the pipeline keeps its files: one home folder, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path


def mlperf_home() -> Path:
    """`MLPERF_HOME`, default `.mlperf/` in the working directory; always absolute."""
    return Path(os.environ.get("MLPERF_HOME", ".mlperf")).expanduser().resolve()


def results_db_path() -> Path | str:
    """`MLPERF_DB`: a DuckDB file (default `<MLPERF_HOME>/results.duckdb`), or a DuckLake locator
    `ducklake:<catalog>`, returned as given (its Parquet files are in `lake_data_dir()`)."""
    configured = os.environ.get("MLPERF_DB")
    if configured and configured.startswith("ducklake:"):
        return configured
    return Path(configured).expanduser().resolve() if configured else mlperf_home() / "results.duckdb"


def lake_data_dir() -> Path:
    """Where a DuckLake results store keeps its Parquet files: a folder every node mounts."""
    configured = os.environ.get("MLPERF_LAKE_DATA")
    return Path(configured).expanduser().resolve() if configured else mlperf_home() / "lake"


def overrides_dir() -> Path:
    """Hand-written skillsets that replace generated ones (`MLPERF_OVERRIDES`)."""
    configured = os.environ.get("MLPERF_OVERRIDES")
    return Path(configured).expanduser().resolve() if configured else mlperf_home() / "overrides"


def reports_dir() -> Path:
    return mlperf_home() / "reports"
