"""What the Dagster UI shows of our DuckDB tables: their column schema, from `store.schema`, so a
user reads a table's columns without opening DuckDB (and they cannot drift from the migrations)."""

import dagster as dg

from mlperf_pipeline.store.schema import TABLE_COLUMNS


def column_schema(table: str) -> dict[str, dg.TableSchema]:
    """`dagster/column_schema` metadata for one table of `store.schema.TABLE_COLUMNS`."""
    columns = [dg.TableColumn(name, sql_type) for name, sql_type in TABLE_COLUMNS[table]]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}


PREVIEW_REASON_CHARS = 120  # a reason longer than this is cut in the preview; the table has it whole


def results_preview(rows) -> dg.MetadataValue:
    """A partition's `benchmark_results` rows as a small Markdown table for its materialisation:
    the configuration, the verdict and the median with its interval, so that the UI answers
    "what did this partition measure" without DuckDB."""
    lines = [
        "| size | batch | seq | dtype | scenario | status | p50 ms | 95% interval ms | processes | reason |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        interval = "" if row.ci95_low_ms is None else f"{row.ci95_low_ms:.2f}–{row.ci95_high_ms:.2f}"
        median = "" if row.latency_ms_p50 is None else f"{row.latency_ms_p50:.2f}"
        reason = " ".join(f"{row.reason_code or ''} {row.reason or ''}".split())[:PREVIEW_REASON_CHARS]
        cells = (row.size, row.batch_size, row.seq_len, row.dtype, row.scenario, row.status, median, interval)
        text = " | ".join("" if cell is None else str(cell) for cell in (*cells, row.n_processes or ""))
        lines.append(f"| {text} | {reason.replace('|', '/')} |")
    return dg.MetadataValue.md("\n".join(lines))
