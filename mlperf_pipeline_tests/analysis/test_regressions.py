"""Regression findings from `benchmark_results`-shaped rows: series, states, suspects, versions."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.regressions import regression_findings
from mlperf_pipeline_tests.store.factories import result_row

START = datetime(2026, 11, 1)
NOW = datetime(2026, 12, 1)


def _runs(levels_ms, model_type="bert", bench="5", env=None, seed=0, start_index=0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for offset, level in enumerate(levels_ms):
        index = start_index + offset
        medians = (level * np.exp(0.01 * rng.standard_normal(3))).tolist()
        rows.append(
            result_row(
                model_type,
                run_id=f"{model_type}-{index}",
                measured_at=START + timedelta(hours=index),
                size="full",
                latency_ms_p50=float(np.mean(medians)),
                process_medians_ms=medians,
                bench_version=bench,
                env_fingerprint=env[offset] if env else "env-a",
                skillset_hash="skill-1",
            )
        )
    return rows


def _noisy(n, level=100.0, seed=1, sigma=0.02):
    return (level * np.exp(sigma * np.random.default_rng(seed).standard_normal(n))).tolist()


def test_an_old_step_is_confirmed_with_its_evidence_and_the_environment_change_as_suspect():
    levels = _noisy(20) + _noisy(10, level=130.0, seed=2)
    env = ["env-a"] * 20 + ["env-b"] * 10
    frame = pd.DataFrame(_runs(levels, env=env) + _runs(_noisy(5), model_type="gpt2"))
    rows, counts = regression_findings(frame, NOW)
    assert counts == {"series": 2, "judged": 1, "insufficient_history": 1, "confirmed": 1, "major": 1}
    (row,) = rows.to_dict("records")
    assert (row["model_type"], row["method"], row["state"], row["confirmed"]) == (
        "bert",
        "change_point",
        "confirmed",
        True,
    )
    assert row["run_id"] == "bert-20" and row["severity"] == "major" and 25 < row["change_pct"] < 35
    assert row["suspect"] == "environment: env-a -> env-b" and row["p_value"] < 0.001
    assert row["baseline_from"] == START and row["baseline_to"] == START + timedelta(hours=19)
    assert row["noise_sigma_pct"] > 0 and row["detected_at"] == NOW and row["workers"] == 1


def test_a_slow_latest_run_is_pending_then_confirmed_or_refuted_by_the_next_run():
    base = _noisy(25, seed=3)
    pending, _ = regression_findings(pd.DataFrame(_runs([*base, 125.0])), NOW)
    (row,) = pending.to_dict("records")
    assert (row["method"], row["state"], row["run_id"], row["suspect"]) == ("latest_run", "pending", "bert-25", None)
    flagged = {("cpu", "bert", "full", 1, 128, "float32", "latency", 1): frozenset({"bert-25"})}
    confirmed, counts = regression_findings(pd.DataFrame(_runs([*base, 125.0, 126.0])), NOW, flagged)
    assert [(r["run_id"], r["state"]) for r in confirmed.to_dict("records")] == [("bert-25", "confirmed")]
    refuted, counts = regression_findings(pd.DataFrame(_runs([*base, 125.0, base[-1]])), NOW, flagged)
    assert [(r["run_id"], r["state"]) for r in refuted.to_dict("records")] == [("bert-25", "refuted")]
    assert counts["refuted"] == 1


def test_a_new_bench_version_starts_a_new_baseline():
    old = _runs(_noisy(20, level=80.0), bench="4")
    new = _runs(_noisy(12, seed=4), bench="5", start_index=20)
    rows, counts = regression_findings(pd.DataFrame(old + new), NOW)
    # The level moved with the method (80 -> 100 ms): no step. (A run of the new version may still
    # be pending: any run 2 sigma out gets one more measurement.)
    assert counts["judged"] == 1 and "change_point" not in set(rows.get("method", []))


def test_failed_rows_are_not_runs_and_a_faster_series_is_an_improvement():
    rows = _runs(_noisy(20) + _noisy(10, level=70.0, seed=5))
    rows[3] = {**rows[3], "status": "failed", "latency_ms_p50": None}
    found, counts = regression_findings(pd.DataFrame(rows), NOW)
    (row,) = found[found["method"] == "change_point"].to_dict("records")
    assert row["severity"] == "improvement" and row["change_pct"] < 0 and counts["improvement"] == 1
    assert row["baseline_from"] == rows[0]["measured_at"] and row["run_id"] == "bert-20"


def test_findings_from_a_real_store_are_stored_and_their_pending_runs_read_back(tmp_path):
    from mlperf_pipeline.store.results import (
        read_pending_regressions,
        read_results_history,
        write_partition_results,
        write_regressions,
    )

    db_path = tmp_path / "results.duckdb"
    for row in _runs([*_noisy(25, seed=3), 125.0]):
        write_partition_results(db_path, [row], [], dagster_run_id=row["run_id"], hardware="cpu", model_type="bert")
    rows, _ = regression_findings(read_results_history(db_path), NOW)
    assert write_regressions(db_path, rows.to_dict("records")) == 1
    assert read_pending_regressions(db_path) == {
        ("cpu", "bert", "full", 1, 128, "float32", "latency", 1): frozenset({"bert-25"})
    }
