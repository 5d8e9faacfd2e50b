"""A results file that duckdb 2.0 wrote (what the pipeline pinned before DuckLake) is converted
once, and nothing in it is lost."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlperf_pipeline.store.convert import NEWER_DUCKDB, backup_path, install_duckdb
from mlperf_pipeline.store.db import StoreError
from mlperf_pipeline.store.results import read_current_results, read_samples

REPO = Path(__file__).resolve().parents[2]

# Runs our own writers under the newer DuckDB: PYTHONPATH puts it ahead of the installed one.
_WRITE_WITH_NEWER_DUCKDB = """
import sys, duckdb
from mlperf_pipeline.store.results import write_partition_results, write_skillset_checks
from mlperf_pipeline_tests.store.factories import result_row, sample_rows
for model_type in ("bert", "gpt2"):
    write_partition_results(sys.argv[1], [result_row(model_type, batch_size=b) for b in (1, 4)],
        sample_rows(model_type, n=30), dagster_run_id="run-old", hardware="cpu", model_type=model_type)
write_skillset_checks(sys.argv[1], [{"model_type": "bert", "status": "ok", "checked_at": "2026-11-01T00:00:00"}], "run-old")
print(duckdb.__version__)
"""


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory) -> Path:
    """Where the converter installs the newer DuckDB (`XDG_CACHE_HOME`), kept out of the user's."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def newer_duckdb(cache_home) -> Path:
    return install_duckdb(NEWER_DUCKDB, cache_home=cache_home)


@pytest.mark.slow
def test_a_file_written_by_duckdb_2_is_named_then_converted_without_losing_a_row(tmp_path, newer_duckdb, cache_home):
    db = tmp_path / "results.duckdb"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(newer_duckdb), str(REPO)])}
    written = subprocess.run(
        [sys.executable, "-c", _WRITE_WITH_NEWER_DUCKDB, str(db)], env=env, capture_output=True, text=True, check=True
    )
    assert written.stdout.strip() == NEWER_DUCKDB
    original = hashlib.sha256(db.read_bytes()).hexdigest()

    with pytest.raises(StoreError, match=r"newer DuckDB .* `python -m mlperf_pipeline\.store\.convert"):
        read_current_results(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == original

    converted = _convert(db, cache_home)
    assert converted.returncode == 0, converted.stderr
    assert '"benchmark_results": 4' in converted.stdout

    current = read_current_results(db)
    assert sorted(zip(current["model_type"], current["batch_size"])) == [
        ("bert", 1),
        ("bert", 4),
        ("gpt2", 1),
        ("gpt2", 4),
    ]
    assert len(read_samples(db, "bench-1")) == 60
    # the original is kept, untouched, beside the converted file
    assert hashlib.sha256(backup_path(db).read_bytes()).hexdigest() == original

    again = _convert(db, cache_home)
    assert again.returncode == 1 and "exists already" in again.stderr


def _convert(db: Path, cache_home: Path) -> subprocess.CompletedProcess:
    """The converter's command line, as the error message gives it."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    command = [sys.executable, "-m", "mlperf_pipeline.store.convert", str(db)]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)
