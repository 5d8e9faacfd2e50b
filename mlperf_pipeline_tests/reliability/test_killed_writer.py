"""A writer SIGKILLed in the middle of its writes leaves a consistent database with every earlier row."""

import os
import signal
import subprocess
import sys
import time

import duckdb

WRITER = """
import sys, uuid
from mlperf_pipeline.store.results import write_partition_results
db, start = sys.argv[1], int(sys.argv[2])
for index in range(start, start + 10_000):
    run_id = uuid.uuid4().hex
    rows = [{"run_id": run_id, "hardware": "cpu", "model_type": f"m{index}", "status": "ok", "batch_size": batch, "size": "tiny"} for batch in (1, 2, 4)]
    samples = [{"run_id": run_id, "hardware": "cpu", "model_type": f"m{index}", "batch_size": 1, "iteration": i, "latency_ms": 1.0} for i in range(500)]
    write_partition_results(db, rows, samples, dagster_run_id="killed-run", hardware="cpu", model_type=f"m{index}")
    print(index, flush=True)
"""


def _counts(db_path):
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute("SELECT run_id, count(*) FROM benchmark_results GROUP BY run_id").fetchall()
        samples = connection.execute("SELECT run_id, count(*) FROM benchmark_samples GROUP BY run_id").fetchall()
    return dict(rows), dict(samples)


def test_sigkill_mid_write_keeps_every_partition_whole_and_history_intact(tmp_path):
    db = tmp_path / "results.duckdb"
    first = subprocess.run(
        [sys.executable, "-c", WRITER.replace("10_000", "3"), str(db), "0"], check=True, capture_output=True, text=True
    )
    assert first.stdout.split() == ["0", "1", "2"]
    history_rows, _ = _counts(db)

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "100"], stdout=subprocess.PIPE, text=True)
    for _ in range(5):  # let it get into its stride, then kill it wherever it is
        writer.stdout.readline()
    time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()

    rows, samples = _counts(db)
    assert all(count == 3 for count in rows.values()), "a partition's result set was written in part"
    assert all(samples.get(run_id) == 500 for run_id in rows), "results without all their samples"
    assert set(history_rows) <= set(rows), "earlier history was lost"
    assert len(rows) >= len(history_rows) + 5
