"""Convert a results file that a newer DuckDB wrote into one that this pipeline's DuckDB reads.

The DuckLake extensions exist only for duckdb 1.5.5, so the pipeline pins it; results files written
while it pinned duckdb 2.0 cannot be opened by 1.5 (DuckDB's storage format does not go back). The
conversion goes through DuckDB's own portable form: the newer DuckDB, installed beside the
pipeline (not into it), runs EXPORT DATABASE to Parquet, and this DuckDB runs IMPORT DATABASE
into a new file. Every table's row count is compared before the new file takes the old one's
place; the old file is kept beside it, renamed, and nothing is deleted.

    python -m mlperf_pipeline.store.convert .mlperf/results.duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import duckdb

from mlperf_pipeline.store.db import StoreError, connect, holding_lock

# The DuckDB that wrote results files before the pipeline pinned 1.5.5.
NEWER_DUCKDB = "2.0.1"

_EXPORT = """
import json, sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as conn:
    tables = [t for (t,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    conn.execute(f"EXPORT DATABASE '{sys.argv[2]}' (FORMAT parquet)")
print(json.dumps({"duckdb": duckdb.__version__, "counts": counts}))
"""


def backup_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.duckdb-{NEWER_DUCKDB}.bak")


def convert(path: str | os.PathLike, newer_duckdb_dir: Path | None = None, duckdb_version: str = NEWER_DUCKDB) -> dict:
    """Convert `path` in place (under the store's lock); return what was converted. The original
    stays as `backup_path(path)`."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise StoreError(f"no results file at {path}")
    if backup_path(path).exists():
        raise StoreError(f"{backup_path(path)} exists already: move it away first (it may be the only copy)")
    runtime = newer_duckdb_dir or install_duckdb(duckdb_version)
    with holding_lock(path), tempfile.TemporaryDirectory(prefix="mlperf-convert-", dir=path.parent) as scratch:
        exported = Path(scratch) / "export"
        counts = _export(path, exported, runtime)
        converted = Path(scratch) / path.name
        with closing(duckdb.connect(str(converted))) as conn:
            conn.execute(f"IMPORT DATABASE '{_quoted(exported)}'")  # takes no parameters
            _check_counts(conn, counts["counts"], path)
        path.rename(backup_path(path))
        wal = _wal(path)
        if wal.exists():  # belongs to the old file (the export above read it): it goes with it
            wal.rename(_wal(backup_path(path)))
        converted.rename(path)
    with connect(path) as conn:  # brings the converted file up to today's migrations
        pass
    return {"path": str(path), "backup": str(backup_path(path)), "from": counts["duckdb"], **counts["counts"]}


def install_duckdb(version: str, cache_home: Path | None = None) -> Path:
    """The DuckDB `version` in a folder of its own (pip --target) under `cache_home` (default
    `XDG_CACHE_HOME`, else `~/.cache`), kept for the next conversion."""
    cache_home = cache_home or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache_home / "mlperf_pipeline" / f"duckdb-{version}"
    if (target / "duckdb").is_dir():
        return target
    print(f"installing duckdb=={version} into {target} (used only to read the old file) ...", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), f"duckdb=={version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise StoreError(f"could not install duckdb=={version} to read the old file: {completed.stderr.strip()[-500:]}")
    return target


def _export(path: Path, out: Path, runtime: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(runtime)}
    completed = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(path), str(out)], capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        raise StoreError(f"the newer DuckDB could not export {path}: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _check_counts(conn: duckdb.DuckDBPyConnection, expected: dict[str, int], path: Path) -> None:
    found = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in expected}
    if found != expected:
        raise StoreError(
            f"the conversion of {path} lost rows (exported {expected}, imported {found}); it is left as it was"
        )


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="the results file (e.g. .mlperf/results.duckdb)")
    args = parser.parse_args(argv)
    try:
        result = convert(args.path)
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
