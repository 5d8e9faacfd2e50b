"""A benchmark partition's plot: drawn from its samples and history, absent when nothing was timed."""

import pandas as pd

from mlperf_pipeline.report.partition_plots import partition_plot, write_partition_plot

CONFIGURATION = {"size": "tiny", "batch_size": 1, "seq_len": 128, "dtype": "float32", "scenario": "latency"}


def test_the_plot_is_written_per_partition_and_replaced_by_the_next_run(tmp_path):
    samples = pd.DataFrame([{**CONFIGURATION, "latency_ms": 10.0 + i % 5} for i in range(50)])
    history = pd.DataFrame(
        [
            {
                **CONFIGURATION,
                "run_id": f"r{i}",
                "measured_at": pd.Timestamp(2025, 1, 1 + i),
                "latency_ms_p50": 10.0 + i,
            }
            for i in range(4)
        ]
    )
    png = partition_plot(samples, history, "r3", "cpu|bert")
    assert png[:4] == b"\x89PNG"
    path = write_partition_plot(tmp_path, "cpu", "org/bert", png)
    assert path == tmp_path / "cpu" / "org-bert.png" and path.read_bytes() == png
    write_partition_plot(tmp_path, "cpu", "org/bert", b"\x89PNG again")
    assert path.read_bytes() == b"\x89PNG again" and len(list((tmp_path / "cpu").iterdir())) == 1


def test_a_run_without_timed_calls_has_no_plot():
    empty = pd.DataFrame(columns=[*CONFIGURATION, "latency_ms"])
    assert partition_plot(empty, pd.DataFrame(), "r1", "cpu|llama") is None
