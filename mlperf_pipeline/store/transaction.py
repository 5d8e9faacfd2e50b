"""One explicit transaction on a DuckDB connection: all of its statements land, or none do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.begin()
    try:
        yield conn
    except BaseException:
        # BaseException too: a KeyboardInterrupt mid-write must not leave a half-open transaction.
        conn.rollback()
        raise
    conn.commit()
