"""Short-lived, queued connections to the results store: a DuckDB file, or a DuckLake (`lake.py`).

DuckDB lets one process open the file read-write, and while it does no other process can open it
at all, not even read-only. Our own processes therefore queue on an OS lock next to the file, and
the open itself is retried with backoff because an outside process (a notebook, the DuckDB CLI)
does not take our lock.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

import duckdb

from mlperf_pipeline.isolation.locks import file_lock
from mlperf_pipeline.store import lake
from mlperf_pipeline.store.migrations import migrate, pending_migrations
from mlperf_pipeline.store.transaction import transaction

_FIRST_DELAY_S = 0.01
_MAX_DELAY_S = 0.5
_LOCK_HELD_MARKERS = ("Could not set lock", "Conflicting lock")
# DuckDB's own default is 80% of the machine's memory. Our queries are scans and sorts of the
# results table that spill to disk past the limit, and the process around them (pandas frames,
# torch) needs the memory more: `regressions` over 1,000,000 rows peaks well under 2 GiB this way.
DEFAULT_MEMORY_LIMIT = "1GB"
T = TypeVar("T")


class StoreError(Exception):
    """The results database cannot be used: not a DuckDB file, held too long, or not permitted."""


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def connect(
    db_path: str | os.PathLike | lake.LakeLocation, read_only: bool = False, timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for one short piece of work; migrate it on read-write opens.

    Waits at most `timeout_s` in all for other processes. Not re-entrant: opening the same file
    again while a connection is held waits for itself and fails after the timeout.
    """
    if lake.is_lake(db_path):
        with _lake_connection(db_path, read_only) as conn:
            yield conn
        return
    path = Path(db_path).expanduser().absolute()
    deadline = time.monotonic() + timeout_s
    if read_only and not path.exists():
        raise StoreError(f"no results database at {path}: nothing has been written there yet")
    _make_parent(path)
    with _exclusive_lock(lock_path_for(path), deadline, timeout_s):
        conn = _open_with_retry(path, read_only, deadline, timeout_s)
        try:
            if not read_only:
                migrate(conn)
            elif _behind(conn):
                # Written by an older version: readers expect today's views, so bring the file up
                # to date once (migrations only add), then read it as asked.
                conn.close()
                conn = _open_with_retry(path, False, deadline, timeout_s)
                migrate(conn)
                conn.close()
                conn = _open_with_retry(path, True, deadline, timeout_s)
            yield conn
        finally:
            conn.close()


@contextmanager
def holding_lock(db_path: str | os.PathLike, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold the results file's lock without opening it: no pipeline process opens it meanwhile."""
    path = Path(db_path).expanduser().absolute()
    with _exclusive_lock(lock_path_for(path), time.monotonic() + timeout_s, timeout_s):
        yield


def maintain(
    db_path: str | os.PathLike | lake.LakeLocation, retention_days: int = lake.DEFAULT_SNAPSHOT_RETENTION_DAYS
) -> dict:
    """Keep the store compact: a DuckLake's small files merged and old snapshots expired
    (`lake.maintain`); a DuckDB file checkpointed (its write-ahead log folded in)."""
    with connect(db_path) as conn:
        if lake.is_lake(db_path):
            return lake.maintain(conn, retention_days)
        conn.execute("CHECKPOINT")
        return {"checkpointed": 1}


def write_transaction(
    db_path: str | os.PathLike | lake.LakeLocation,
    body: Callable[[duckdb.DuckDBPyConnection], int],
    timeout_s: float = 60.0,
) -> int:
    """`body(conn)` in one transaction on a read-write connection: all of it lands, or none.

    On a DuckLake, other nodes commit at the same time, and two commits that touch one data file
    conflict (DuckLake retries a few itself first), or a SQLite catalog is busy: the whole
    transaction is then run again, with backoff, until `timeout_s`. A DuckDB file has one writer
    at a time (the lock) and no conflicts.
    """
    return _retrying(db_path, body, read_only=False, timeout_s=timeout_s)


def read(
    db_path: str | os.PathLike | lake.LakeLocation,
    body: Callable[[duckdb.DuckDBPyConnection], T],
    timeout_s: float = 60.0,
) -> T:
    """`body(conn)` on a read-only connection, run again while a lake's SQLite catalog is busy."""
    return _retrying(db_path, body, read_only=True, timeout_s=timeout_s)


def _retrying(db_path, body: Callable[[duckdb.DuckDBPyConnection], T], read_only: bool, timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    delays = _backoff_delays()
    while True:
        try:
            with (
                connect(db_path, read_only=read_only, timeout_s=timeout_s) as conn,
                nullcontext() if read_only else transaction(conn),
            ):
                return body(conn)
        except duckdb.Error as error:
            if not lake.is_lake(db_path) or not _contended(error):
                raise
            if not _sleep_before_retry(next(delays), deadline):
                raise StoreError(
                    f"{db_path} was still contended by other writers after {timeout_s:g} s: {error}"
                ) from error


@contextmanager
def _lake_connection(location: lake.LakeLocation, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of this process's attachment of the lake. No lock of ours: the catalog orders
    concurrent commits. The first attachment in a process migrates the lake (a conflict with
    another node migrating at the same moment is settled by looking again). A read-only
    connection is one transaction that is rolled back: nothing done through it is committed."""
    cursor = lake.cursor(_attached(location))
    try:
        if read_only:
            cursor.begin()
        yield cursor
        if read_only:
            cursor.rollback()
    except duckdb.Error as error:
        if _contended(error) or not isinstance(error, _CONNECTION_LOST):
            raise
        lake.forget(location)  # the catalog went away: attach afresh next time
        raise StoreError(f"lost the connection to the DuckLake {location}: {error}") from error
    finally:
        cursor.close()  # an open read-only transaction is rolled back with it


def _attached(location: lake.LakeLocation, timeout_s: float = 60.0) -> duckdb.DuckDBPyConnection:
    """This process's migrated attachment; processes that create a new lake at the same moment
    contend for its catalog, and the one that loses attaches again and finds the lake created."""
    deadline, delays = time.monotonic() + timeout_s, _backoff_delays()
    while True:
        try:
            return lake.attached(location, memory_limit(), prepare=_migrate_lake)
        except lake.LakeError as error:
            if not _contended(error) or not _sleep_before_retry(next(delays), deadline):
                raise StoreError(str(error)) from error


# Errors of the catalog connection itself, after which the attachment is not used again; an
# ordinary SQL error leaves it as it is.
_CONNECTION_LOST = (duckdb.ConnectionException, duckdb.IOException, duckdb.FatalException, duckdb.InternalException)


def _migrate_lake(conn: duckdb.DuckDBPyConnection, attempts: int = 20) -> None:
    """Migrations are checked and applied one transaction each, so a conflict with another node
    doing the same is settled by looking again: its migration is then applied, and skipped here."""
    delays = _backoff_delays()
    for attempt in range(attempts):
        try:
            migrate(conn)
            return
        except duckdb.Error as error:
            # another process applied the same migration first, or holds the SQLite catalog: look again
            if attempt == attempts - 1 or not _contended(error):
                raise
            time.sleep(next(delays))


# What another process doing the same at the same moment leaves (lower case): a SQLite catalog it
# holds, a migration or a new lake's catalog tables it created first, a commit it won.
_CONTENDED_MARKERS = ("database is locked", "already exists", "duplicate key", "conflict")


def _contended(error: Exception) -> bool:
    """Lost to another writer (DuckLake's commit conflict, or one of `_CONTENDED_MARKERS`): worth
    running the whole attempt again."""
    return isinstance(error, duckdb.TransactionException) or any(
        marker in str(error).lower() for marker in _CONTENDED_MARKERS
    )


def _behind(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database lacks a migration this version of the code knows."""
    try:
        return bool(pending_migrations(conn))
    except duckdb.CatalogException:  # no migrations table: not a results database; leave it as it is
        return False


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the folder for the results database {path}: {error}") from error


def _backoff_delays() -> Iterator[float]:
    delay = _FIRST_DELAY_S
    while True:
        # Jitter keeps queued processes from retrying in lockstep.
        yield random.uniform(delay / 2, delay)
        delay = min(delay * 2, _MAX_DELAY_S)


def _sleep_before_retry(delay_s: float, deadline: float) -> bool:
    """Sleep up to `delay_s` without passing the deadline; False when no time is left."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    time.sleep(min(delay_s, remaining))
    return True


@contextmanager
def _exclusive_lock(lock_path: Path, deadline: float, timeout_s: float) -> Iterator[None]:
    """Our processes' queue: the lock is released when we are done, and by the kernel if we die."""
    with ExitStack() as held:
        _record_holder(_acquire(held, lock_path, deadline, timeout_s))
        yield


def _acquire(held: ExitStack, lock_path: Path, deadline: float, timeout_s: float) -> int:
    """Try the lock without blocking until the deadline (with backoff); the locked descriptor."""
    delays = _backoff_delays()
    while True:
        try:
            return held.enter_context(file_lock(lock_path, blocking=False))
        except BlockingIOError:
            if not _sleep_before_retry(next(delays), deadline):
                raise StoreError(
                    f"the results database lock {lock_path} is still held by another pipeline "
                    f"process ({_holder(lock_path)}) after {timeout_s:g} s"
                ) from None
        except OSError as error:
            raise StoreError(f"cannot open the lock file {lock_path}: {error}") from error


def _record_holder(fd: int) -> None:
    """Write our PID into the lock file so that a process that times out can say who held it."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)


def _holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text(errors="replace").strip()[:32]
    except OSError:
        pid = ""
    return f"PID {pid}" if pid else "PID unknown"


def _open_with_retry(path: Path, read_only: bool, deadline: float, timeout_s: float) -> duckdb.DuckDBPyConnection:
    delays = _backoff_delays()
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit()})
        except duckdb.ParserException as error:  # only the configuration is parsed on open
            raise StoreError(
                f"MLPERF_DUCKDB_MEMORY_LIMIT={memory_limit()!r} is not a DuckDB memory size (e.g. 512MB, 4GB): {error}"
            ) from error
        except duckdb.Error as error:
            if not _is_held_elsewhere(error):
                raise _explain_open_failure(path, error) from error
            if not _sleep_before_retry(next(delays), deadline):
                raise StoreError(
                    f"the results database {path} is still held by another process after "
                    f"{timeout_s:g} s (DuckDB: {error})"
                ) from error


def memory_limit() -> str:
    """`MLPERF_DUCKDB_MEMORY_LIMIT` (a DuckDB size such as `512MB` or `4GB`), default `DEFAULT_MEMORY_LIMIT`."""
    return os.environ.get("MLPERF_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def _is_held_elsewhere(error: duckdb.Error) -> bool:
    return isinstance(error, duckdb.IOException) and any(m in str(error) for m in _LOCK_HELD_MARKERS)


def _explain_open_failure(path: Path, error: duckdb.Error) -> StoreError:
    message = str(error)
    if "created with an newer version of DuckDB" in message or "created with a newer version of DuckDB" in message:
        return StoreError(
            f"{path} was written by a newer DuckDB than this pipeline's {duckdb.__version__} (the DuckLake "
            f"extensions pin it); convert it once with `python -m mlperf_pipeline.store.convert {path}` "
            "(the original is kept beside it)"
        )
    if "not a valid DuckDB database" in message:
        return StoreError(f"{path} exists but is not a DuckDB database; move it away or set MLPERF_DB")
    if "Permission denied" in message:
        return StoreError(f"no permission to open the results database {path}: {message}")
    return StoreError(f"cannot open the results database {path}: {message}")
