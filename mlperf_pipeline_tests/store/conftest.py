from __future__ import annotations

from pathlib import Path

import pytest

from mlperf_pipeline.store.lake import LakeLocation


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A folder that does not exist yet: connect() must create it.
    return tmp_path / "store" / "results.duckdb"


@pytest.fixture(params=["duckdb_file", "ducklake"])
def any_store(request, tmp_path: Path):
    """Each store the pipeline writes to: the DuckDB file (one machine), and a DuckLake (a cluster;
    here its catalog is a SQLite file, in the cluster test a PostgreSQL database)."""
    if request.param == "duckdb_file":
        return tmp_path / "store" / "results.duckdb"
    return LakeLocation.parse(f"ducklake:sqlite:{tmp_path}/lake/catalog.sqlite", tmp_path / "lake" / "data")
