from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A folder that does not exist yet: connect() must create it.
    return tmp_path / "store" / "results.duckdb"
