from __future__ import annotations

from contextlib import closing
from datetime import datetime, timedelta, timezone

import duckdb
import pandas as pd
import pytest

from mlperf_pipeline.store.results import (
    export_parquet,
    read_current_results,
    read_results_history,
    read_samples,
    write_partition_results,
    write_table_rows,
)
from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.lake import LakeLocation
from mlperf_pipeline.store.schema import RESULT_COLUMNS
from mlperf_pipeline_tests.store.factories import result_row, sample_rows


@pytest.fixture
def db_path(any_store):
    """Every test here runs on both stores: the DuckDB file and a DuckLake."""
    return any_store


def write(db_path, rows, samples=(), run="run-1", hardware="cpu", model_type="bert"):
    return write_partition_results(
        db_path, list(rows), list(samples), dagster_run_id=run, hardware=hardware, model_type=model_type
    )


def test_rewriting_a_partition_replaces_only_that_runs_rows(db_path):
    write(db_path, [result_row(batch_size=1)], sample_rows(n=4), run="run-old")
    write(db_path, [result_row(batch_size=b) for b in (1, 2)], sample_rows(n=3), run="run-new")
    write(db_path, [result_row("gpt2")], sample_rows("gpt2", n=2), run="run-new", model_type="gpt2")

    written = write(
        db_path, [result_row(batch_size=b, latency_ms_p50=20.0) for b in (1, 2, 4)], sample_rows(n=5), run="run-new"
    )

    history = read_results_history(db_path)
    per_run = history.groupby(["dagster_run_id", "model_type"]).size().to_dict()
    assert written == 3
    assert per_run == {("run-old", "bert"): 1, ("run-new", "bert"): 3, ("run-new", "gpt2"): 1}
    new_bert = history[(history.dagster_run_id == "run-new") & (history.model_type == "bert")]
    assert set(new_bert.latency_ms_p50) == {20.0}
    samples = read_samples(db_path, "bench-1")
    assert samples.groupby(["dagster_run_id", "model_type"]).size().to_dict() == {
        ("run-old", "bert"): 4,
        ("run-new", "bert"): 5,
        ("run-new", "gpt2"): 2,
    }


def test_current_results_hold_the_latest_row_of_each_series(db_path):
    day = datetime(2025, 1, 1)
    write(
        db_path,
        [
            result_row(batch_size=1, measured_at=day, latency_ms_p50=1.0),
            result_row(batch_size=2, measured_at=day, latency_ms_p50=2.0),
        ],
        run="run-1",
    )
    write(db_path, [result_row(batch_size=1, measured_at=day + timedelta(days=1), latency_ms_p50=1.5)], run="run-2")
    write(db_path, [result_row(batch_size=1, measured_at=day - timedelta(days=1), latency_ms_p50=0.5)], run="run-0")

    current = read_current_results(db_path)

    assert list(current.columns) == [name for name, _ in RESULT_COLUMNS]
    assert dict(zip(current.batch_size, current.latency_ms_p50)) == {1: 1.5, 2: 2.0}
    assert dict(zip(current.batch_size, current.dagster_run_id)) == {1: "run-2", 2: "run-1"}


def test_current_results_break_timestamp_ties_by_run(db_path):
    same_time = datetime(2025, 1, 1)
    for run, latency in [("run-b", 2.0), ("run-c", 3.0), ("run-a", 1.0)]:
        write(db_path, [result_row(measured_at=same_time, latency_ms_p50=latency)], run=run)
    assert read_current_results(db_path).latency_ms_p50.tolist() == [3.0]


def test_reading_filters_by_hardware_model_and_status(db_path):
    write(db_path, [result_row("bert", status="ok")])
    write(db_path, [result_row("gpt2", status="failed", reason_code="crash")], model_type="gpt2")
    write(db_path, [result_row("bert", "cuda", status="skipped", reason_code="hardware_absent")], hardware="cuda")

    assert read_current_results(db_path, hardware="cpu").model_type.tolist() == ["bert", "gpt2"]
    assert read_current_results(db_path, model_types="gpt2").status.tolist() == ["failed"]
    assert read_current_results(db_path, model_types=["gpt2", "bert"], status=["ok", "skipped"]).hardware.tolist() == [
        "cpu",
        "cuda",
    ]
    assert read_results_history(db_path, hardware="cuda", model_type="bert").reason_code.tolist() == ["hardware_absent"]


@pytest.mark.parametrize(
    "bad_row, named",
    [
        (result_row(latency_p50=3.0), "latency_p50"),
        (result_row(status="great"), "status"),
        (result_row(status=None), "status"),
        (result_row(status="failed", reason_code="gremlins"), "reason_code"),
        (result_row(size="huge"), "size"),
        (result_row(hardware="cuda"), "hardware"),
        (result_row(model_type="gpt2"), "model_type"),
        (result_row(batch_size="8"), "batch_size"),
        (result_row(measured_at="yesterday"), "measured_at"),
    ],
)
def test_bad_rows_are_refused_and_stored_rows_survive(db_path, bad_row, named):
    write(db_path, [result_row(latency_ms_p50=7.0)], sample_rows(n=3))

    with pytest.raises(ValueError, match=named):
        write(db_path, [result_row(latency_ms_p50=8.0), bad_row], sample_rows(n=1))

    assert read_results_history(db_path).latency_ms_p50.tolist() == [7.0]
    assert len(read_samples(db_path, "bench-1")) == 3


def test_a_failure_inside_the_transaction_rolls_back_the_delete(db_path):
    write(db_path, [result_row(latency_ms_p50=7.0)])
    too_big_for_integer = 2**40  # passes the Python check, fails DuckDB's cast mid-transaction

    with pytest.raises(duckdb.ConversionException, match="batch_size"):
        write(db_path, [result_row(batch_size=too_big_for_integer)])

    assert read_results_history(db_path).latency_ms_p50.tolist() == [7.0]


def test_sample_rows_are_validated_too(db_path):
    with pytest.raises(ValueError, match="latency"):
        write(db_path, [result_row()], [{**sample_rows(n=1)[0], "latency": 1.0}])


def test_hostile_strings_are_stored_verbatim(db_path):
    hostile = "x'; DROP TABLE benchmark_results; --|[a]"
    write(db_path, [result_row(hostile, reason='it\'s "quoted"')], sample_rows(hostile), model_type=hostile)

    current = read_current_results(db_path, model_types=[hostile])

    assert current.model_type.tolist() == [hostile]
    assert current.reason.tolist() == ['it\'s "quoted"']
    assert len(read_results_history(db_path)) == 1


def test_timestamps_are_stored_as_utc(db_path):
    aware = datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    write(
        db_path,
        [result_row(measured_at=aware, batch_size=1), result_row(measured_at="2025-01-01T12:30:00", batch_size=2)],
    )
    stamps = read_current_results(db_path).measured_at.tolist()
    assert stamps == [pd.Timestamp("2025-01-01 12:00"), pd.Timestamp("2025-01-01 12:30")]


def test_reading_before_anything_was_written_gives_empty_frames(db_path):
    current = read_current_results(db_path)
    assert current.empty
    assert list(current.columns) == [name for name, _ in RESULT_COLUMNS]
    assert read_samples(db_path, "bench-1").empty
    # A reader never creates a results file; a lake is a shared catalog, created by whoever comes first.
    assert isinstance(db_path, LakeLocation) or not db_path.exists()


def test_analysis_tables_are_appended_and_checked(db_path):
    prediction = {
        "hardware": "cpu",
        "model_type": "bert",
        "predicted_ms": 6.5,
        "predicted_at": datetime(2025, 1, 2),
        "run_id": "run-1",
    }
    assert write_table_rows(db_path, "predictions", [prediction, {**prediction, "predicted_ms": 7.0}]) == 2

    with pytest.raises(ValueError, match="benchmark_results"):
        write_table_rows(db_path, "benchmark_results", [result_row()])
    with pytest.raises(ValueError, match="regressions"):  # findings are merged, not appended
        write_table_rows(db_path, "regressions", [{}])
    with pytest.raises(ValueError, match="anomalies"):  # re-scored per series, not appended
        write_table_rows(db_path, "anomalies", [{}])
    with pytest.raises(ValueError, match="nonsense"):
        write_table_rows(db_path, "predictions", [{**prediction, "nonsense": 1}])
    with pytest.raises(ValueError, match="predicted_ms"):
        write_table_rows(db_path, "predictions", [{**prediction, "predicted_ms": "high"}])


def test_a_judged_series_anomalies_are_replaced_and_other_series_stay(db_path):
    from mlperf_pipeline.store.results import read_anomalies, write_anomalies

    key = {"hardware": "cpu", "model_type": "bert", "size": "full", "batch_size": 1, "seq_len": 128}
    key.update(dtype="float32", scenario="latency", workers=1)
    anomaly = {**key, "metric": "latency_ms_p50", "robust_z": 6.5, "detected_at": datetime(2025, 1, 2)}
    bert, gpt2 = pd.DataFrame([key]), pd.DataFrame([{**key, "model_type": "gpt2"}])
    rows = [{**anomaly, "run_id": "b-1"}, {**anomaly, "model_type": "gpt2", "run_id": "g-1", "robust_z": -4.0}]
    assert write_anomalies(db_path, rows, pd.concat([bert, gpt2])) == 2
    assert write_anomalies(db_path, [{**anomaly, "run_id": "b-2", "robust_z": 3.5}], bert) == 1
    stored = read_anomalies(db_path)
    assert list(zip(stored["run_id"], stored["robust_z"])) == [("g-1", -4.0), ("b-2", 3.5)]
    assert write_anomalies(db_path, [], gpt2) == 0  # nothing anomalous any more
    assert read_anomalies(db_path)["run_id"].tolist() == ["b-2"]
    with pytest.raises(ValueError, match="robust_z"):
        write_anomalies(db_path, [{**anomaly, "robust_z": "high"}], bert)
    assert read_anomalies(db_path)["run_id"].tolist() == ["b-2"]  # a refused write loses nothing


def test_a_regression_finding_is_replaced_by_its_next_evaluation_and_others_stay(db_path):
    from mlperf_pipeline.store.results import read_open_findings, write_regressions

    series = {"hardware": "cpu", "model_type": "bert", "size": "full", "batch_size": 1, "seq_len": 128}
    series |= {"dtype": "float32", "scenario": "latency", "workers": 1}
    finding = {**series, "metric": "latency_ms_p50", "change_pct": 12.5, "method": "latest_run", "run_id": "run-7"}
    older = {**finding, "method": "change_point", "state": "confirmed", "confirmed": True, "run_id": "run-2"}
    assert write_regressions(db_path, [older, {**finding, "state": "pending", "confirmed": False}]) == 2
    key = tuple(series.values())
    assert read_open_findings(db_path) == {key: {"run-7": "pending"}}  # change points are not open

    write_regressions(db_path, [{**finding, "state": "refuted", "confirmed": False}])
    with connect(db_path, read_only=True) as conn:
        stored = conn.execute("SELECT run_id, state FROM regressions ORDER BY run_id").fetchall()
    assert stored == [("run-2", "confirmed"), ("run-7", "refuted")]
    assert read_open_findings(db_path) == {}
    with pytest.raises(ValueError, match="confirmed"):
        write_regressions(db_path, [{**finding, "confirmed": "yes"}])


def test_parquet_export_matches_the_database(db_path, tmp_path):
    write(db_path, [result_row(batch_size=b) for b in (1, 2)], sample_rows(n=4), run="run-1")
    write(db_path, [result_row(batch_size=1, measured_at=datetime(2025, 2, 1))], run="run-2")

    files = export_parquet(db_path, tmp_path / "export")

    assert [f.name for f in files] == [
        "benchmark_results.parquet",
        "benchmark_samples.parquet",
        "current_results.parquet",
    ]
    assert [_parquet_rows(f) for f in files] == [3, 4, 2]
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [f.name for f in files]


def _parquet_rows(path) -> int:
    # Read back with DuckDB: pandas would need pyarrow, which the project does not require.
    with closing(duckdb.connect()) as conn:
        return conn.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]


def test_per_process_medians_and_sample_processes_round_trip(db_path):
    row = result_row(n_processes=3, process_medians_ms=[10.0, 10.5, 9.75], between_process_cv_pct=3.7)
    write(db_path, [row], sample_rows(n=2, process=1))
    stored = read_current_results(db_path).iloc[0]
    assert list(stored.process_medians_ms) == [10.0, 10.5, 9.75] and stored.n_processes == 3
    assert set(read_samples(db_path, "bench-1")["process"]) == {1}


def test_a_list_column_refuses_what_is_not_a_list_of_numbers(db_path):
    with pytest.raises(ValueError, match="process_medians_ms"):
        write(db_path, [result_row(process_medians_ms=["fast"])])
    with pytest.raises(ValueError, match="process_medians_ms"):
        write(db_path, [result_row(process_medians_ms=10.0)])


def test_environments_are_recorded_once_per_fingerprint_and_read_back(db_path):
    from mlperf_pipeline.store.results import read_environments, record_environments

    first = {"hardware": "cpu", "packages": {"torch": "2.13.0"}}
    assert record_environments(db_path, {"cpu": ("fp-1", first)}) == 1
    assert record_environments(db_path, {"cpu": ("fp-1", {"changed": True})}) == 0  # first recorded stands
    assert record_environments(db_path, {"cpu": ("fp-2", {**first, "packages": {"torch": "2.14.0"}})}) == 1
    assert read_environments(db_path) == {"fp-1": first, "fp-2": {"hardware": "cpu", "packages": {"torch": "2.14.0"}}}


def test_the_predictor_and_the_series_detector_each_replace_only_their_own_anomalies(db_path):
    from mlperf_pipeline.store.modelling import write_predictor_anomalies
    from mlperf_pipeline.store.results import read_anomalies, write_anomalies

    key = {"hardware": "cpu", "model_type": "bert", "size": "full", "batch_size": 1, "seq_len": 128}
    key.update(dtype="float32", scenario="latency", workers=1)
    anomaly = {**key, "metric": "latency_ms_p50", "detected_at": datetime(2025, 1, 2)}
    write_anomalies(db_path, [{**anomaly, "run_id": "s-1", "robust_z": 4.0, "method": "series"}], pd.DataFrame([key]))
    assert write_predictor_anomalies(db_path, [{**anomaly, "run_id": "p-1", "robust_z": 5.0, "method": "predictor"}])
    write_anomalies(db_path, [], pd.DataFrame([key]))  # the series detector clears its own finding
    assert read_anomalies(db_path)["run_id"].tolist() == ["p-1"]
    write_anomalies(db_path, [{**anomaly, "run_id": "s-2", "robust_z": 4.0, "method": "series"}], pd.DataFrame([key]))
    assert write_predictor_anomalies(db_path, []) == 0  # the next predictor run finds nothing
    assert read_anomalies(db_path)["run_id"].tolist() == ["s-2"]
