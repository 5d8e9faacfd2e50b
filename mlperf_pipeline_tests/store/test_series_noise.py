"""The `series_noise` view through `read_series_noise`: one row per series key, filters, empty store."""

from __future__ import annotations

from datetime import datetime

import pytest

from mlperf_pipeline.store.results import read_series_noise, write_partition_results
from mlperf_pipeline.store.schema import SERIES_KEY, SERIES_NOISE_COLUMNS
from mlperf_pipeline_tests.store.factories import result_row


def _write_runs(db_path, hardware: str, model_type: str, latencies_by_batch: dict[int, list[float]]) -> None:
    """Run i holds the i-th latency of every batch size: one Dagster run per day."""
    n_runs = max(len(latencies) for latencies in latencies_by_batch.values())
    for day in range(n_runs):
        rows = [
            result_row(
                model_type,
                hardware,
                batch_size=batch,
                latency_ms_p50=latencies[day],
                measured_at=datetime(2025, 2, 1 + day),
            )
            for batch, latencies in latencies_by_batch.items()
            if day < len(latencies)
        ]
        write_partition_results(
            db_path, rows, [], dagster_run_id=f"day-{day}", hardware=hardware, model_type=model_type
        )


def test_each_series_key_is_its_own_series(db_path):
    _write_runs(db_path, "cpu", "bert", {1: [10.0, 10.5, 9.5], 8: [40.0, 44.0, 36.0, 40.0]})
    _write_runs(db_path, "cuda", "bert", {1: [1.0, 1.0]})
    noise = read_series_noise(db_path)
    assert [name for name, _ in SERIES_NOISE_COLUMNS] == list(noise.columns)
    assert noise[["hardware", "batch_size", "n_runs"]].values.tolist() == [["cpu", 1, 3], ["cpu", 8, 4], ["cuda", 1, 2]]
    assert noise["noise_pct"].tolist()[:2] == pytest.approx([1.4826 * 0.5 / 10 * 100, 1.4826 * 2 / 40 * 100])
    assert noise["noise_pct"].isna().tolist() == [False, False, True]


def test_reading_filters_by_hardware_and_model_type(db_path):
    _write_runs(db_path, "cpu", "bert", {1: [10.0, 11.0, 12.0]})
    _write_runs(db_path, "cpu", "gpt2", {1: [20.0, 21.0, 22.0]})
    _write_runs(db_path, "cuda", "gpt2", {1: [2.0, 2.1, 2.2]})
    assert read_series_noise(db_path, hardware="cpu")["model_type"].tolist() == ["bert", "gpt2"]
    assert read_series_noise(db_path, model_type="gpt2")["hardware"].tolist() == ["cpu", "cuda"]
    assert len(read_series_noise(db_path, hardware="cuda", model_type="bert")) == 0


def test_reading_before_anything_was_written_gives_the_columns(db_path):
    noise = read_series_noise(db_path)
    assert noise.empty and set(SERIES_KEY) <= set(noise.columns) and "noise_pct" in noise.columns


def test_only_the_latest_bench_version_of_a_series_counts(db_path):
    # Three old-method runs around 10 ms, then three new-method runs around 20 ms: pooled, the level
    # and the MAD would mix two methods; a new bench version starts a new baseline.
    for day, (version, latency) in enumerate(
        [("3", 10.0), ("3", 10.2), ("3", 9.8), ("4", 20.0), ("4", 21.0), ("4", 19.0)]
    ):
        row = result_row(latency_ms_p50=latency, bench_version=version, measured_at=datetime(2025, 3, 1 + day))
        write_partition_results(db_path, [row], [], dagster_run_id=f"run-{day}", hardware="cpu", model_type="bert")
    (noise,) = read_series_noise(db_path).to_dict("records")
    assert (noise["bench_version"], noise["n_runs"], noise["level_ms"]) == ("4", 3, 20.0)
    assert noise["noise_pct"] == pytest.approx(1.4826 * 1.0 / 20.0 * 100)
    assert noise["first_measured_at"] == datetime(2025, 3, 4)
