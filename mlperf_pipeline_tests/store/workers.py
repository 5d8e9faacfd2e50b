"""Entry points for child processes started with the 'spawn' context (they must be importable)."""

from __future__ import annotations

import time

import duckdb

from mlperf_pipeline.store.results import write_partition_results
from mlperf_pipeline_tests.store.factories import result_row, sample_rows


def write_partition_repeatedly(db_path, model_type: str, start, repeats: int) -> None:
    start.wait()
    rows = [result_row(model_type, batch_size=batch) for batch in (1, 2, 4)]
    for _ in range(repeats):
        write_partition_results(
            db_path, rows, sample_rows(model_type, n=200), dagster_run_id="run-1", hardware="cpu", model_type=model_type
        )


def hold_database_open(db_path: str, ready, seconds: float) -> None:
    """Act like a notebook: a plain DuckDB connection that ignores our lock file."""
    conn = duckdb.connect(db_path)
    ready.set()
    time.sleep(seconds)
    conn.close()
