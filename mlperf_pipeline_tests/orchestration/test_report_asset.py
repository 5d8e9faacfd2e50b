"""The `benchmark_report` asset alone, over a store that already holds history: it shows the series noise."""

from datetime import datetime

import dagster as dg

from mlperf_pipeline.orchestration.assets.report import benchmark_report
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.store.results import write_partition_results
from mlperf_pipeline_tests.store.factories import result_row


def test_the_report_shows_each_series_run_to_run_noise_from_the_store(tmp_path):
    db_path = tmp_path / "results.duckdb"
    for day, latency in enumerate([100.0, 102.0, 98.0, 101.0, 250.0]):
        row = result_row("bert", measured_at=datetime(2025, 3, 1 + day), latency_ms_p50=latency)
        write_partition_results(db_path, [row], [], dagster_run_id=f"day-{day}", hardware="cpu", model_type="bert")
    result = dg.materialize([benchmark_report], resources=resources_under(tmp_path, db_path))
    assert result.success
    summary = result.asset_materializations_for_node("benchmark_report")[0].metadata["summary"].value
    # median 101, MAD 1 (one slow run of five does not move it): 1.4826 / 101 = 1.5%
    assert "| 250 |  | ±1.5% (5 runs) |" in summary
    assert "±1.5% (5 runs)" in (tmp_path / "reports" / "report.html").read_text()
