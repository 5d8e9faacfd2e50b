"""Does `regressions` keep up with a large results store? 1,000,000 stored result rows, judged.

    .venv/bin/python benchmarks/regressions_scale.py [--series 20000] [--runs 50] [--memory-limit 1GB]

Builds a results database (the real schema, by the store's own migrations) with `--series` series
of `--runs` runs each: full-size cpu rows with 3 per-process medians per run, 1-8% run-to-run noise,
and a 15% step 20 runs before the end in one series of 20 (so findings get written). Then, each in
a fresh Python process so that its peak RSS is its own:

- `read`: reading the rows the detectors need, in the batches `regressions` reads them in (the
  floor any judging of them pays);
- `regressions`: what the `regressions` asset does (`analysis.stored.judge_stored_regressions`:
  read, detect in every series, merge the findings into the `regressions` table), twice: the
  second run re-judges a store whose `regressions` table is already full;
- `anomalies`: what the `anomalies` asset does (`judge_stored_anomalies`), the other half of
  `analysis_job` (the same targets, though the issue sets them for `regressions`).

Printed: wall time, peak RSS, findings and the ratio to `read`, with the targets (< 60 s, < 2 GiB).
DuckDB's memory limit is set by `MLPERF_DUCKDB_MEMORY_LIMIT` (default 1GB) in each process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlperf_pipeline.store.db import connect

TARGET_S = 60.0
TARGET_RSS_MB = 2048.0

# Levels: a base per series (20-400 ms, log-uniform), log-normal run jitter of 1-8% per series, a 15% step from
# run `runs - 20` on in every 20th series; 3 per-process medians around each run's level.
_GENERATE = """
INSERT INTO benchmark_results BY NAME
WITH runs AS (
    SELECT s, r,
        20 * exp(ln(20) * (hash(s, 'base') / 18446744073709551615.0)) AS base_ms,
        0.01 + 0.07 * (hash(s, 'noise') / 18446744073709551615.0) AS noise,
        CASE WHEN s % 20 = 0 AND r >= $runs - 20 THEN ln(1.15) ELSE 0 END AS step,
        sqrt(-2 * ln(greatest(random(), 1e-12))) * cos(2 * pi() * random()) AS z
    FROM range($series) AS t1(s), range($runs) AS t2(r)
), processes AS (
    SELECT *, [base_ms * exp(noise * z + step + 0.005 * (random() - 0.5)) FOR _ IN range(3)] AS medians
    FROM runs
)
SELECT
    'run-' || s || '-' || r AS run_id,
    TIMESTAMP '2026-01-01' + to_hours(r::BIGINT) AS measured_at,
    'cpu' AS hardware,
    'type' || (s // 8) AS model_type,
    'full' AS size,
    1 << (s % 4)::INTEGER AS batch_size,
    CASE WHEN s % 8 < 4 THEN 128 ELSE 512 END AS seq_len,
    'float32' AS dtype,
    'inference' AS scenario,
    1 AS workers,
    'ok' AS status,
    list_avg(medians) AS latency_ms_p50,
    medians AS process_medians_ms,
    3 AS n_processes,
    'env-a' AS env_fingerprint,
    'skills-a' AS skillset_hash,
    '5' AS bench_version
FROM processes
"""


def build(db_path: Path, series: int, runs: int) -> int:
    with connect(db_path) as conn:
        conn.execute("SELECT setseed(0.5)")
        conn.execute(_GENERATE.replace("$series", str(series)).replace("$runs", str(runs)))
        return conn.execute("SELECT count(*) FROM benchmark_results").fetchone()[0]


_CHILD = """
import json, resource, sys, time
from datetime import datetime
started = time.perf_counter()
path, what = sys.argv[1], sys.argv[2]
if what == "read":
    from mlperf_pipeline.analysis.stored import stored_histories
    result = {"rows": sum(len(frame) for frame, _, _ in stored_histories(path)), "findings": None}
else:
    from mlperf_pipeline.analysis import stored
    judge = stored.judge_stored_anomalies if what == "anomalies" else stored.judge_stored_regressions
    judged = judge(path, datetime(2026, 12, 1))
    result = {"rows": judged.counts["series"], "findings": judged.written}
result["seconds"] = time.perf_counter() - started
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps(result))
"""


def measure(db_path: Path, what: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db_path), what], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory limit in each process")
    args = parser.parse_args()
    os.environ["MLPERF_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "scale.duckdb"
        started = time.perf_counter()
        rows = build(db_path, args.series, args.runs)
        print(
            f"built {rows:,} result rows ({args.series:,} series x {args.runs} runs) in {time.perf_counter() - started:.0f} s"
        )
        print(f"DuckDB memory limit {args.memory_limit}; each step in a fresh process\n")
        read = measure(db_path, "read")
        print(f"{'step':<26}{'seconds':>9}{'peak RSS MB':>13}{'x read':>8}{'findings':>10}  target")
        print(f"{'read (the floor)':<26}{read['seconds']:>9.1f}{read['peak_rss_mb']:>13.0f}{1.0:>8.2f}{'-':>10}")
        short = 0
        for label, what in (
            ("regressions (empty table)", "regressions"),
            ("regressions (re-judged)", "regressions"),
            ("anomalies", "anomalies"),
        ):
            step = measure(db_path, what)
            met = step["seconds"] < TARGET_S and step["peak_rss_mb"] < TARGET_RSS_MB
            short += not met
            verdict = "met" if met else f"SHORT (< {TARGET_S:g} s and < {TARGET_RSS_MB:g} MB)"
            print(
                f"{label:<26}{step['seconds']:>9.1f}{step['peak_rss_mb']:>13.0f}"
                f"{step['seconds'] / read['seconds']:>8.2f}{step['findings']:>10}  {verdict}"
            )
        print(f"\n{short} target(s) short")


if __name__ == "__main__":
    main()
