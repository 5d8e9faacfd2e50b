"""What the Dagster UI shows of our DuckDB tables: their column schema, from `store.schema`, so a
user reads a table's columns without opening DuckDB (and they cannot drift from the migrations)."""

import dagster as dg

from mlperf_pipeline.store.schema import TABLE_COLUMNS


def column_schema(table: str) -> dict[str, dg.TableSchema]:
    """`dagster/column_schema` metadata for one table of `store.schema.TABLE_COLUMNS`."""
    columns = [dg.TableColumn(name, sql_type) for name, sql_type in TABLE_COLUMNS[table]]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}
