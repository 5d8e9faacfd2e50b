"""The results store as a DuckLake: a catalog many machines share, and Parquet files on a shared path.

A DuckLake is what a cluster writes to: its catalog (a PostgreSQL database; a SQLite file on one
machine and in the tests) takes concurrent commits from every node, and DuckDB queries it as it does
the results file. Each process attaches it once to an in-memory DuckDB (`attached`), whose default
database it is, so that the same SQL serves both stores.

The extensions are loaded by path from their PyPI wheels (`duckdb-extension-ducklake`,
`duckdb-extension-postgres-scanner`, `duckdb-extension-sqlite-scanner`): a plain `LOAD ducklake` would try to download them, and
nothing here may download at run time.

What a DuckLake lacks, and where it is made up for:
- no CHECK, PRIMARY KEY or UNIQUE constraints: the migrations drop them for a lake
  (`migrations.lake_statement`), and every writer validates its rows in Python first
  (`results._checked_row`); keys are kept by delete-then-insert in one transaction;
- concurrent commits that touch the same data file conflict: writes are retried whole
  (`db.write_transaction`);
- every commit adds files: `maintain` merges them and expires old snapshots.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

LAKE_PREFIX = "ducklake:"
# The attached lake's name inside each connection; `USE` makes it the default database.
LAKE_ALIAS = "results"
# The catalog's tables live in their own schema, so that a lake can share a PostgreSQL database
# (e.g. the one Dagster's instance storage uses) without mixing with its tables.
METADATA_SCHEMA = "mlperf_results"
# Snapshots older than this are expired by `maintain`; time travel to them is then no longer possible.
DEFAULT_SNAPSHOT_RETENTION_DAYS = 7
# The extension that reads each kind of catalog (loaded by path, like DuckLake's own).
_CATALOG_EXTENSIONS = {"postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}
_NO_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_ATTACHED: dict[tuple, duckdb.DuckDBPyConnection] = {}
_ATTACHED_LOCK = threading.Lock()


class LakeError(Exception):
    """The DuckLake cannot be attached: an extension is missing, or the catalog is unreachable."""


@dataclass(frozen=True)
class LakeLocation:
    """A DuckLake: its catalog, `postgres:<libpq connection string>` (a cluster) or
    `sqlite:<file>` (one machine, and the tests), and the folder (shared by every node) that holds
    its Parquet files. A DuckDB file as the catalog is refused: it takes one process at a time,
    and the webserver, the daemon and the runs are several."""

    catalog: str
    data_path: str

    @classmethod
    def parse(cls, locator: str, data_path: str | os.PathLike | None) -> LakeLocation:
        """`ducklake:<catalog>`; `data_path` defaults to `<catalog file>.files` for a SQLite catalog."""
        catalog = locator[len(LAKE_PREFIX) :].strip() if locator.startswith(LAKE_PREFIX) else ""
        if (
            not catalog.startswith(tuple(f"{kind}:" for kind in _CATALOG_EXTENSIONS))
            or not catalog.split(":", 1)[1].strip()
        ):
            raise LakeError(
                f"{locator!r} is not a DuckLake locator: expected 'ducklake:postgres:<connection string>' "
                "or 'ducklake:sqlite:<file>'"
            )
        if data_path is None:
            if catalog.startswith("postgres:"):
                raise LakeError(
                    f"the DuckLake {cls._shown(catalog)} needs a data path: set MLPERF_LAKE_DATA to a "
                    "folder every node mounts"
                )
            data_path = catalog.split(":", 1)[1] + ".files"
        return cls(catalog=catalog, data_path=str(Path(data_path).expanduser().absolute()))

    @property
    def catalog_kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    def __str__(self) -> str:
        return f"{LAKE_PREFIX}{self._shown(self.catalog)} (data in {self.data_path})"

    @staticmethod
    def _shown(catalog: str) -> str:
        """The catalog without its password, for messages and logs."""
        return " ".join("password=***" if part.startswith("password=") else part for part in catalog.split(" "))


def is_lake(db_path: object) -> bool:
    return isinstance(db_path, LakeLocation)


def extension_path(name: str) -> Path:
    """The `.duckdb_extension` file inside the installed `duckdb-extension-<name>` wheel."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    wheel = f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
    if spec is None or not spec.submodule_search_locations:
        raise LakeError(f"the DuckDB extension {name!r} is not installed: pip install '{wheel}'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob("*.duckdb_extension"))
    if not found:
        raise LakeError(f"{package} has no extension built for duckdb {duckdb.__version__}: pip install '{wheel}'")
    return found[0]


def attached(
    location: LakeLocation, memory_limit: str, prepare: Callable[[duckdb.DuckDBPyConnection], None]
) -> duckdb.DuckDBPyConnection:
    """This process's attachment of the lake: loading the extension costs ~0.3 s, so each process
    attaches once and every `connect` takes a cursor of it. A DuckLake reads the catalog's latest
    snapshot at the start of each transaction, so a long-held attachment still sees every other
    node's commits. A new attachment is `prepare`d (migrated) before any other thread can have it.
    Keyed by process: a forked child attaches anew rather than share its parent's DuckDB. One per
    process, read-write: DuckDB refuses a second attachment of one catalog file in one process."""
    key = (os.getpid(), location, memory_limit)
    with _ATTACHED_LOCK:
        if key not in _ATTACHED:
            conn = attach(location, memory_limit)
            try:
                prepare(conn)
            except BaseException:
                conn.close()
                raise
            _ATTACHED[key] = conn
        return _ATTACHED[key]


def cursor(base: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own to the attachment, with the lake as its default database."""
    conn = base.cursor()
    conn.execute(f"USE {LAKE_ALIAS}")
    return conn


def forget(location: LakeLocation) -> None:
    """Attach afresh next time (after the catalog connection failed). The old attachment is not
    closed here: other threads' cursors may still be using it; it closes when the last goes."""
    with _ATTACHED_LOCK:
        for key in [key for key in _ATTACHED if key[1] == location]:
            del _ATTACHED[key]


def attach(location: LakeLocation, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as its default database."""
    _make_folders(location)
    try:
        conn = duckdb.connect(":memory:", config={"memory_limit": memory_limit, **_NO_DOWNLOADS})
    except duckdb.Error as error:
        raise LakeError(
            f"MLPERF_DUCKDB_MEMORY_LIMIT={memory_limit!r} is not a DuckDB memory size (e.g. 512MB, 4GB): {error}"
        ) from error
    try:
        conn.execute(f"LOAD {_literal(str(extension_path('ducklake')))}")
        conn.execute(f"LOAD {_literal(str(extension_path(_CATALOG_EXTENSIONS[location.catalog_kind])))}")
        options = [f"DATA_PATH {_literal(location.data_path)}"]
        if location.catalog_kind == "postgres":  # SQLite has no schemas; the file is the lake's alone
            options.append(f"METADATA_SCHEMA {_literal(METADATA_SCHEMA)}")
        # ATTACH takes no prepared parameters: the catalog and path are quoted as SQL literals.
        conn.execute(f"ATTACH {_literal(LAKE_PREFIX + location.catalog)} AS {LAKE_ALIAS} ({', '.join(options)})")
        conn.execute(f"USE {LAKE_ALIAS}")
    except duckdb.Error as error:
        conn.close()
        raise LakeError(f"cannot attach the DuckLake {location}: {error}") from error
    return conn


def maintain(conn: duckdb.DuckDBPyConnection, retention_days: int = DEFAULT_SNAPSHOT_RETENTION_DAYS) -> dict[str, int]:
    """Merge the small files that many commits leave, expire snapshots older than `retention_days`
    and delete the files no snapshot needs any more. Counts of what was done."""
    alias = _literal(LAKE_ALIAS)
    merged = conn.execute(f"CALL ducklake_merge_adjacent_files({alias})").fetchall()
    expired = conn.execute(
        f"CALL ducklake_expire_snapshots({alias}, older_than => now() - to_days(?::INTEGER))", [retention_days]
    ).fetchall()
    cleaned = conn.execute(f"CALL ducklake_cleanup_old_files({alias}, cleanup_all => true)").fetchall()
    return {"files_merged": len(merged), "snapshots_expired": len(expired), "files_deleted": len(cleaned)}


def _make_folders(location: LakeLocation) -> None:
    """The data folder and a file catalog's folder (DuckLake creates neither)."""
    folders = [Path(location.data_path)]
    if location.catalog_kind == "sqlite":
        folders.append(Path(location.catalog.split(":", 1)[1]).expanduser().absolute().parent)
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LakeError(f"cannot create {folder} for the DuckLake {location}: {error}") from error


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
