"""Load: concurrent `dagster job execute` runs over overlapping ranges, one DAGSTER_HOME, one DuckDB file.

    .venv/bin/python benchmarks/concurrent_runs.py [--partitions 60] [--runs 3] [--keep]

Registers the catalogue in a fresh temporary home, then starts `--runs` benchmark_job runs at
once, run i covering keys [i*step, i*step + partitions) of the registration order (the `critical`
and `high` tiers first), so neighbouring runs overlap by half. Prints, per run: exit code, wall time,
partitions measured / skipped; then the checks: every run succeeded, no lock error reached the
output, Dagster's SQLite storage never said `database is locked`, and DuckDB holds exactly one
current result set per partition with each partition measured once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb

from mlperf_pipeline.catalog.catalog import build_catalog, partition_keys_in_tier_order
from mlperf_pipeline.orchestration.assets.catalog import register_model_types
from mlperf_pipeline.orchestration.partitions import register_hardware
from mlperf_pipeline.orchestration.partitions import range_tags
from mlperf_pipeline.settings import PROFILE_TAG

LOCK_ERRORS = re.compile(r"database is locked|Could not set lock|StoreError|Conflicting lock", re.IGNORECASE)
REPO = Path(__file__).resolve().parents[1]


def _start_run(keys: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    tags = {**range_tags("cpu", keys[0], keys[-1]), PROFILE_TAG: "smoke"}
    command = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "execute",
        "-m",
        "mlperf_pipeline.definitions",
        "-j",
        "benchmark_job",
        "--tags",
        json.dumps(tags),
    ]
    # Not from the checkout: `dagster` would load its .env, whose MLPERF_HOME wins over ours.
    return subprocess.Popen(command, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env, cwd=log_path.parent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=60, help="partitions per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home for inspection")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mlperf-load-"))
    env = {**os.environ, "DAGSTER_HOME": str(home / "dagster"), "MLPERF_HOME": str(home)}
    (home / "dagster").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster" / "dagster.yaml")
    os.environ.update(env)
    keys = partition_keys_in_tier_order(build_catalog(with_configs=False))
    with dg.DagsterInstance.get() as instance:
        register_model_types(instance, keys)
        register_hardware(instance, ["cpu"])
    step = max(1, args.partitions // 2)
    slices = [keys[index * step : index * step + args.partitions] for index in range(args.runs)]
    print(
        f"{args.runs} runs x {args.partitions} partitions, overlapping by {args.partitions - step}; {len(set(k for s in slices for k in s))} distinct partitions; home {home}"
    )
    started = time.monotonic()
    runs = [
        (_start_run(keys_, env, home / f"run{index}.log"), home / f"run{index}.log", time.monotonic())
        for index, keys_ in enumerate(slices)
    ]
    results = []
    for index, (process, log_path, run_started) in enumerate(runs):
        code = process.wait()
        text = log_path.read_text(errors="replace")
        measured = len(re.findall(r"\] cpu\|\S+: \{", text))
        results.append(
            {
                "run": index,
                "exit": code,
                "wall_s": time.monotonic() - run_started,
                "measured": measured,
                "lock_errors": len(LOCK_ERRORS.findall(text)),
            }
        )
    total_s = time.monotonic() - started
    print(f"{'run':>4}{'exit':>6}{'wall s':>9}{'measured':>10}{'lock errors':>13}")
    for row in results:
        print(f"{row['run']:>4}{row['exit']:>6}{row['wall_s']:>9.0f}{row['measured']:>10}{row['lock_errors']:>13}")
    distinct = sorted({key for keys_ in slices for key in keys_})
    with duckdb.connect(str(home / "results.duckdb"), read_only=True) as connection:
        per_partition = dict(
            connection.execute("SELECT model_type, count(*) FROM current_results GROUP BY model_type").fetchall()
        )
        measurements = dict(
            connection.execute(
                "SELECT model_type, count(DISTINCT run_id) FROM benchmark_results GROUP BY model_type"
            ).fetchall()
        )
    checks = {
        "every run succeeded": all(row["exit"] == 0 for row in results),
        "no lock error in any run's output": sum(row["lock_errors"] for row in results) == 0,
        "one current result set per partition": len(per_partition) == len(distinct)
        and set(per_partition.values()) == {1},
        "each partition measured once": set(measurements.values()) == {1},
    }
    print(
        f"\nwall time {total_s:.0f} s; partitions stored {len(per_partition)}/{len(distinct)}; measurements {sum(measurements.values())}"
    )
    for name, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
