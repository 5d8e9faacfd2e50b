"""The DuckLake store's own parts: locators, extensions loaded by path, maintenance."""

from __future__ import annotations

import pytest

from mlperf_pipeline.store import maintain
from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.lake import LakeError, LakeLocation, extension_path
from mlperf_pipeline.store.results import read_current_results, read_samples, write_partition_results
from mlperf_pipeline_tests.store.factories import result_row, sample_rows


@pytest.mark.parametrize(
    "locator, named",
    [
        ("/tmp/results.duckdb", "not a DuckLake locator"),
        ("ducklake:", "not a DuckLake locator"),
        ("ducklake:/tmp/meta.ducklake", "ducklake:postgres:<connection string>"),
        ("ducklake:sqlite:", "not a DuckLake locator"),
    ],
)
def test_a_bad_locator_is_refused_with_what_is_expected(locator, named):
    with pytest.raises(LakeError, match=named):
        LakeLocation.parse(locator, "/tmp/data")


def test_a_postgres_catalog_needs_a_data_path_and_hides_its_password():
    with pytest.raises(LakeError, match="MLPERF_LAKE_DATA"):
        LakeLocation.parse("ducklake:postgres:host=db dbname=lake", None)
    location = LakeLocation.parse("ducklake:postgres:host=db password=hunter2 dbname=lake", "/shared/lake")
    assert "hunter2" not in str(location) and "password=***" in str(location)
    assert LakeLocation.parse("ducklake:sqlite:/x/c.sqlite", None).data_path == "/x/c.sqlite.files"


def test_the_extensions_are_found_inside_their_wheels_and_a_missing_one_is_named():
    assert extension_path("ducklake").name == "ducklake.duckdb_extension"
    with pytest.raises(LakeError, match="pip install 'duckdb-extension-no-such=="):
        extension_path("no_such")


def test_maintenance_merges_the_files_many_commits_left_and_keeps_every_row(tmp_path):
    lake = LakeLocation.parse(f"ducklake:sqlite:{tmp_path}/catalog.sqlite", tmp_path / "data")
    for run in range(5):
        write_partition_results(
            lake,
            [result_row("bert", batch_size=batch) for batch in (1, 2)],
            sample_rows("bert", n=40),
            dagster_run_id=f"run-{run}",
            hardware="cpu",
            model_type="bert",
        )
    files_before = sorted((tmp_path / "data").rglob("*.parquet"))
    current_before = read_current_results(lake)

    done = maintain(lake, retention_days=0)

    files_after = sorted((tmp_path / "data").rglob("*.parquet"))
    assert len(files_before) == 5 and len(files_after) < len(files_before)
    assert done["files_merged"] >= 1 and done["files_deleted"] >= 1
    assert read_current_results(lake).equals(current_before)
    assert len(read_samples(lake, "bench-1")) == 5 * 40
    with connect(lake, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM benchmark_results").fetchone() == (10,)


def test_a_read_only_connection_to_a_lake_commits_nothing(tmp_path):
    lake = LakeLocation.parse(f"ducklake:sqlite:{tmp_path}/catalog.sqlite", tmp_path / "data")
    write_partition_results(lake, [result_row()], [], dagster_run_id="run-1", hardware="cpu", model_type="bert")
    with connect(lake, read_only=True) as conn:
        conn.execute("DELETE FROM benchmark_results")
    assert len(read_current_results(lake)) == 1
