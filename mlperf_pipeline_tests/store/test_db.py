from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from mlperf_pipeline.store.db import StoreError, connect, lock_path_for
from mlperf_pipeline.store.lake import LakeLocation
from mlperf_pipeline.store.results import read_current_results, read_samples, write_partition_results
from mlperf_pipeline_tests.store import workers
from mlperf_pipeline_tests.store.factories import result_row

SPAWN = multiprocessing.get_context("spawn")


def write_one(db_path, timeout_s=60.0):
    write_partition_results(
        db_path, [result_row()], [], dagster_run_id="run-1", hardware="cpu", model_type="bert", timeout_s=timeout_s
    )


def test_a_file_that_is_not_duckdb_is_refused_by_name(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_text("benchmark,notes\nbert,fast\n")

    with pytest.raises(StoreError, match="not a DuckDB database") as raised:
        write_one(db_path)

    assert str(db_path) in str(raised.value)
    assert db_path.read_text() == "benchmark,notes\nbert,fast\n"


def test_a_read_only_open_of_a_missing_file_is_refused(db_path):
    with pytest.raises(StoreError, match=str(db_path)):
        with connect(db_path, read_only=True):
            pass
    assert not db_path.exists()


def test_a_read_only_connection_cannot_write(db_path):
    write_one(db_path)
    with connect(db_path, read_only=True) as conn:
        with pytest.raises(Exception, match="read-only"):
            conn.execute("DELETE FROM benchmark_results")
    assert len(read_current_results(db_path)) == 1


@pytest.mark.slow
def test_processes_writing_different_partitions_at_once_all_land(any_store):
    db_path = any_store
    model_types = ["bert", "gpt2", "t5"]
    start = SPAWN.Barrier(len(model_types))
    processes = [
        SPAWN.Process(target=workers.write_partition_repeatedly, args=(db_path, model_type, start, 3))
        for model_type in model_types
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)

    assert [p.exitcode for p in processes] == [0, 0, 0]
    current = read_current_results(db_path)
    assert current.groupby("model_type").size().to_dict() == {"bert": 3, "gpt2": 3, "t5": 3}
    assert read_samples(db_path, "bench-1").groupby("model_type").size().to_dict() == {
        "bert": 200,
        "gpt2": 200,
        "t5": 200,
    }


@pytest.mark.slow
def test_processes_rewriting_one_partition_of_a_lake_at_once_leave_one_copy(tmp_path):
    """Concurrent delete-then-insert of one stored partition: DuckLake refuses the commits that
    conflict, they are retried whole, and the partition ends up stored exactly once."""
    lake = LakeLocation.parse(f"ducklake:sqlite:{tmp_path}/catalog.sqlite", tmp_path / "data")
    # stored once first: commits that only insert do not conflict (see README), rewrites do
    workers.write_partition_repeatedly(lake, "bert", SPAWN.Barrier(1), 1)
    start = SPAWN.Barrier(3)
    processes = [
        SPAWN.Process(target=workers.write_partition_repeatedly, args=(lake, "bert", start, 3)) for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert sorted(read_current_results(lake)["batch_size"]) == [1, 2, 4]
    with connect(lake, read_only=True) as conn:
        ((results,),) = conn.execute("SELECT count(*) FROM benchmark_results").fetchall()
        ((samples,),) = conn.execute("SELECT count(*) FROM benchmark_samples").fetchall()
    assert (results, samples) == (3, 200)


def test_our_own_lock_queues_writers_and_names_its_holder(db_path):
    holding, release = threading.Event(), threading.Event()

    def hold():
        with connect(db_path):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    started = time.monotonic()
    try:
        with pytest.raises(StoreError, match=f"PID {os.getpid()}") as raised:
            write_one(db_path, timeout_s=0.3)
    finally:
        release.set()
        holder.join()
    assert str(lock_path_for(db_path)) in str(raised.value)
    assert 0.3 <= time.monotonic() - started < 2.0


@pytest.fixture
def outside_holder(db_path):
    """Start a process that holds the database the way a notebook would; yield its hold time."""

    def start(seconds: float):
        with connect(db_path):
            pass  # creates the file, so the outside process opens an existing database
        ready = SPAWN.Event()
        process = SPAWN.Process(target=workers.hold_database_open, args=(str(db_path), ready, seconds))
        process.start()
        assert ready.wait(30), "the holding process did not open the database"
        started.append(process)

    started: list = []
    yield start
    for process in started:
        process.join(timeout=30)


@pytest.mark.slow
def test_a_write_waits_for_an_outside_process_to_let_go(db_path, outside_holder):
    outside_holder(2.0)
    started = time.monotonic()

    write_one(db_path, timeout_s=20)

    assert time.monotonic() - started > 1.0
    assert read_current_results(db_path).model_type.tolist() == ["bert"]


def test_a_write_gives_up_after_its_timeout_when_held_outside(db_path, outside_holder):
    outside_holder(1.0)
    started = time.monotonic()

    with pytest.raises(StoreError, match="held by another process") as raised:
        write_one(db_path, timeout_s=0.3)

    assert time.monotonic() - started < 1.2
    assert str(db_path) in str(raised.value)
    assert "PID" in str(raised.value)


def test_a_reader_brings_a_database_of_an_older_version_up_to_date_first(tmp_path):
    import duckdb

    from mlperf_pipeline.store.results import read_series_noise
    from mlperf_pipeline.store.migrations import MIGRATIONS

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:  # as an older version left it: migrations 1-3 only
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
        )
        for version, description, statements in MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
        conn.execute("INSERT INTO benchmark_results (hardware, model_type, status) VALUES ('cpu', 'bert', 'ok')")
    assert read_series_noise(path).empty  # the view of a later migration exists for the reader
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM benchmark_results").fetchone() == (1,)  # nothing lost
        assert {version for (version,) in conn.execute("SELECT version FROM schema_migrations").fetchall()} == {
            version for version, _, _ in MIGRATIONS
        }


def test_duckdb_memory_is_limited_by_default_and_a_bad_limit_is_named(db_path, monkeypatch):
    monkeypatch.delenv("MLPERF_DUCKDB_MEMORY_LIMIT", raising=False)
    write_one(db_path)
    with connect(db_path, read_only=True) as conn:
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"  # 1GB
    monkeypatch.setenv("MLPERF_DUCKDB_MEMORY_LIMIT", "300MB")
    with connect(db_path, read_only=True) as conn:
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    monkeypatch.setenv("MLPERF_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(StoreError, match="MLPERF_DUCKDB_MEMORY_LIMIT='lots' is not a DuckDB memory size"):
        write_one(db_path)
    monkeypatch.delenv("MLPERF_DUCKDB_MEMORY_LIMIT")
    assert len(read_current_results(db_path)) == 1  # the stored row is untouched
