"""Incremental reruns: a second `benchmark_job` over an unchanged range measures nothing.

    .venv/bin/python benchmarks/incremental.py                       # cpu, bert..distilbert
    .venv/bin/python benchmarks/incremental.py --models albert,bart,bert --hardware cpu

Runs `benchmark_job` twice over the same contiguous range on a throw-away Dagster instance and
DuckDB file (in-process executor, as the CLI does), then prints how long each run took and how
many benchmark processes each launched (= partitions measured, not skipped as unchanged).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

started_at = time.monotonic()

import dagster as dg  # noqa: E402

from mlperf_pipeline.orchestration.definitions import build_definitions  # noqa: E402
from mlperf_pipeline.orchestration.partitions import range_tags  # noqa: E402
from mlperf_pipeline.orchestration.resources import resources_under  # noqa: E402
from mlperf_pipeline.store.results import read_results_history  # noqa: E402

import_s = time.monotonic() - started_at


def _measured(result) -> int:
    return sum(
        1
        for event in result.get_asset_materialization_events()
        if event.materialization.metadata.get("measured") == dg.BoolMetadataValue(True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hardware", default="cpu")
    parser.add_argument(
        "--models",
        default="bert,distilbert",
        help="comma-separated model keys, in registration order (one contiguous range)",
    )
    parser.add_argument("--max-seconds", type=float, default=1.0, help="max_seconds_per_config of the measurement")
    args = parser.parse_args()
    models = [name for name in args.models.split(",") if name]
    config = {"ops": {"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": args.max_seconds}}}}
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("model_type", models)
        instance.add_dynamic_partitions("hardware", [args.hardware])
        job = build_definitions(resources_under(Path(home))).resolve_job_def("benchmark_job")
        tags = range_tags(args.hardware, models[0], models[-1])
        rows = []
        for label in ("first", "second"):
            started = time.monotonic()
            result = job.execute_in_process(instance=instance, tags=tags, run_config=config, raise_on_error=False)
            wall = time.monotonic() - started
            history = len(read_results_history(Path(home) / "results.duckdb"))
            rows.append((label, result.success, wall, _measured(result), history))
    print(
        f"\nbenchmark_job over {tags['dagster/asset_partition_range_start']} ... {tags['dagster/asset_partition_range_end']} ({len(models)} partitions); imports {import_s:.1f} s"
    )
    print(f"{'run':<8} {'ok':<5} {'wall s':>8} {'benchmark processes':>20} {'rows stored':>12}")
    for label, ok, wall, measured, history in rows:
        print(f"{label:<8} {str(ok):<5} {wall:>8.1f} {measured:>20} {history:>12}")
    second = rows[1]
    verdict = second[1] and second[3] == 0 and second[2] < 10
    print(f"second run: {'PASS' if verdict else 'FAIL'} (zero benchmark processes and < 10 s)")
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
