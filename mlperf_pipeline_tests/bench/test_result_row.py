"""The typed result row: its fields are the `benchmark_results` columns, and the store takes what it builds."""

from dataclasses import fields
from datetime import datetime
from pathlib import Path

from mlperf_pipeline.bench.partition import PartitionContext, PartitionResult, skipped_rows
from mlperf_pipeline.bench.request import BenchRequest
from mlperf_pipeline.bench.result_row import MEASURED_FIELDS, ResultRow
from mlperf_pipeline.reasons import ReasonCode, Status
from mlperf_pipeline.store.results import read_results_history, write_partition_results
from mlperf_pipeline.store.schema import RESULT_COLUMNS


def test_the_fields_are_the_table_columns_in_table_order():
    assert [item.name for item in fields(ResultRow)] == [name for name, _ in RESULT_COLUMNS]


def test_the_benchmark_process_reports_the_fields_it_always_did_its_host_probe_and_the_workload_counts():
    assert set(MEASURED_FIELDS) == {
        "threads",
        "status",
        "reason_code",
        "reason",
        "latency_ms_p50",
        "latency_ms_p90",
        "latency_ms_p99",
        "latency_ms_mean",
        "latency_ms_std",
        "latency_ms_iqr",
        "ci95_low_ms",
        "ci95_high_ms",
        "n_samples",
        "warmup_n",
        "throughput_per_s",
        "peak_memory_mb",
        "import_s",
        "build_s",
        "to_device_s",
        "first_call_ms",
        "cpu_util_pct",
        "gpu_util_pct",
        "energy_j",
        "params",
        "foreign_load_pct",
        "host_probe_ms",  # bench 3
        "flops",  # migration 9: the count pass of process 0
        "bytes",
        "ops",
        "count_reason",
    }


def test_codes_are_stored_as_plain_strings():
    row = ResultRow(
        run_id="r", measured_at=datetime(2025, 1, 1), hardware="cpu", model_type="bert", status=Status.FAILED,
        reason_code=ReasonCode.CRASH,
    )  # fmt: skip
    assert type(row.status) is str and type(row.reason_code) is str
    assert (row.status, row.reason_code, row.scenario, row.workers) == ("failed", "crash", "latency", 1)


def test_skipped_rows_carry_their_inputs_and_reach_the_store(tmp_path):
    context = PartitionContext(
        "cuda", "bert", "encoder", None, "absent", "hash", Path("hf_bert.py"), False, "hardware_absent",
        "no cuda device on this host", inputs_version="s=a:e=absent:b=2:g=12345678",
    )  # fmt: skip
    request = BenchRequest(skillset_path="hf_bert.py", model_type="bert", hardware="cuda", batch_sizes=[1, 8])
    result = PartitionResult(skipped_rows(context, request), [])
    assert result.status_counts() == {"skipped": 2}
    assert result.summary() == {
        "status": "skipped",
        "reason_code": "hardware_absent",
        "latency_ms_p50": None,
        "ci95_ms": "None–None",
        "n_samples": None,
        "rows": 2,
    }
    db = tmp_path / "results.duckdb"
    written = write_partition_results(
        db, result.row_dicts(), [], dagster_run_id="run", hardware="cuda", model_type="bert"
    )
    stored = read_results_history(db)
    assert written == 2 and list(stored["batch_size"]) == [1, 8]
    assert set(stored["inputs_version"]) == {"s=a:e=absent:b=2:g=12345678"}
    assert set(stored["dagster_run_id"]) == {"run"} and set(stored["reason_code"]) == {"hardware_absent"}
