from __future__ import annotations

import subprocess
from contextlib import closing
import sys

import duckdb
import pytest

from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.migrations import MIGRATIONS, lake_statement, migrate
from mlperf_pipeline.store.schema import RESULT_COLUMNS, SERIES_NOISE_COLUMNS, TABLE_COLUMNS


def test_migrations_are_applied_once_and_rerunning_is_a_no_op(any_store):
    with connect(any_store) as conn:
        first = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
        assert migrate(conn) == []
    with connect(any_store) as conn:
        again = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert [version for version, _ in first] == [version for version, _, _ in MIGRATIONS]
    assert again == first


def test_migrated_tables_match_the_declared_columns(any_store):
    with connect(any_store) as conn:
        for table, columns in TABLE_COLUMNS.items():
            described = conn.execute(f"DESCRIBE {table}").fetchall()
            assert [(name, sql_type) for name, sql_type, *_ in described] == columns, table
        view_columns = [row[0] for row in conn.execute("DESCRIBE current_results").fetchall()]
        noise_columns = [(name, sql_type) for name, sql_type, *_ in conn.execute("DESCRIBE series_noise").fetchall()]
    assert view_columns == [name for name, _ in RESULT_COLUMNS]
    assert noise_columns == SERIES_NOISE_COLUMNS


def test_a_failed_migration_leaves_nothing_behind(any_store, monkeypatch):
    broken = (99, "broken on purpose", ["CREATE TABLE half_done (x INTEGER)", "SELECT no_such_column"])
    monkeypatch.setattr("mlperf_pipeline.store.migrations.MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(duckdb.Error):
        with connect(any_store):
            pass
    monkeypatch.undo()
    with connect(any_store) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations").fetchall()]
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        ]
    assert 99 not in versions
    assert "half_done" not in tables


@pytest.mark.parametrize("column, value", [("status", "great"), ("size", "huge")])
def test_the_database_itself_rejects_values_outside_the_contract(db_path, column, value):
    with connect(db_path) as conn:
        values = {"hardware": "cpu", "model_type": "bert", "status": "ok", "size": "tiny"}
        insert = f"INSERT INTO benchmark_results ({', '.join(values)}) VALUES (?, ?, ?, ?)"
        conn.execute(insert, list(values.values()))
        with pytest.raises(duckdb.ConstraintException, match=column):
            conn.execute(insert, list({**values, column: value}.values()))


def test_a_lake_gets_the_migrations_without_the_constraints_it_refuses():
    table = """
    CREATE TABLE t (
        checked_at TIMESTAMP,
        size VARCHAR CHECK (size IN ('tiny', 'full (sic)')),
        status VARCHAR NOT NULL CHECK (status IN ('ok')),
        a INTEGER PRIMARY KEY,
        b INTEGER,
        PRIMARY KEY (a, b)
    )
    """
    assert " ".join(lake_statement(table).split()) == (
        "CREATE TABLE t ( checked_at TIMESTAMP, size VARCHAR, status VARCHAR NOT NULL, a INTEGER, b INTEGER )"
    )
    # every migration still parses once its constraints are gone
    with closing(duckdb.connect()) as conn:
        for _, _, statements in MIGRATIONS:
            for statement in statements:
                conn.execute(lake_statement(statement))


def test_the_store_does_not_import_dagster():
    # A fresh interpreter: this test process may already have dagster loaded by other tests.
    code = "import sys, mlperf_pipeline.store.results; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
