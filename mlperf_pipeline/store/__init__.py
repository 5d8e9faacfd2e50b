"""The DuckDB results store: schema and migrations, queued connections, idempotent writes, reads."""

from mlperf_pipeline.store.db import StoreError, connect, maintain
from mlperf_pipeline.store.migrations import migrate
from mlperf_pipeline.store.results import (
    export_parquet,
    read_current_results,
    read_results_history,
    read_samples,
    read_series_noise,
    write_partition_results,
    write_table_rows,
)
from mlperf_pipeline.store.schema import REASON_CODES, RESULT_COLUMNS, SERIES_KEY

__all__ = [
    "REASON_CODES",
    "RESULT_COLUMNS",
    "SERIES_KEY",
    "StoreError",
    "connect",
    "export_parquet",
    "maintain",
    "migrate",
    "read_current_results",
    "read_results_history",
    "read_samples",
    "read_series_noise",
    "write_partition_results",
    "write_table_rows",
]
