"""Short-lived, queued connections to the results database.

DuckDB lets one process open the file read-write, and while it does no other process can open it
at all, not even read-only. Our own processes therefore queue on an OS lock next to the file, and
the open itself is retried with backoff because an outside process (a notebook, the DuckDB CLI)
does not take our lock.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from mlperf_pipeline.isolation.locks import file_lock
from mlperf_pipeline.store.migrations import migrate, pending_migrations

_FIRST_DELAY_S = 0.01
_MAX_DELAY_S = 0.5
_LOCK_HELD_MARKERS = ("Could not set lock", "Conflicting lock")
# DuckDB's own default is 80% of the machine's memory. Our queries are scans and sorts of the
# results table that spill to disk past the limit, and the process around them (pandas frames,
# torch) needs the memory more: `regressions` over 1,000,000 rows peaks well under 2 GiB this way.
DEFAULT_MEMORY_LIMIT = "1GB"


class StoreError(Exception):
    """The results database cannot be used: not a DuckDB file, held too long, or not permitted."""


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def connect(
    db_path: str | os.PathLike, read_only: bool = False, timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for one short piece of work; migrate it on read-write opens.

    Waits at most `timeout_s` in all for other processes. Not re-entrant: opening the same file
    again while a connection is held waits for itself and fails after the timeout.
    """
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
    if "not a valid DuckDB database" in message:
        return StoreError(f"{path} exists but is not a DuckDB database; move it away or set MLPERF_DB")
    if "Permission denied" in message:
        return StoreError(f"no permission to open the results database {path}: {message}")
    return StoreError(f"cannot open the results database {path}: {message}")
