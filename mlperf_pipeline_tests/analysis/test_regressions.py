"""Regression findings from `benchmark_results`-shaped rows: series, states, suspects, versions."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from mlperf_pipeline.analysis.regressions import regression_findings
from mlperf_pipeline_tests.store.factories import result_row

START = datetime(2026, 11, 1)
SERIES = ("cpu", "bert", "full", 1, 128, "float32", "latency", 1)
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
    flagged = {SERIES: {"bert-25": "pending"}}
    confirmed, counts = regression_findings(pd.DataFrame(_runs([*base, 125.0, 126.0])), NOW, flagged)
    assert [(r["run_id"], r["state"]) for r in confirmed.to_dict("records")] == [("bert-25", "confirmed")]
    refuted, counts = regression_findings(pd.DataFrame(_runs([*base, 125.0, base[-1]])), NOW, flagged)
    assert [(r["run_id"], r["state"]) for r in refuted.to_dict("records")] == [("bert-25", "refuted")]
    assert counts["refuted"] == 1


def test_a_confirmed_latest_run_finding_stands_at_the_next_judging_and_is_not_flagged_again():
    base = _noisy(25, seed=3)
    frame = pd.DataFrame(_runs([*base, 125.0, 126.0]))
    confirmed, _ = regression_findings(frame, NOW, {SERIES: {"bert-25": "pending"}})
    again, counts = regression_findings(frame, NOW, {SERIES: {"bert-25": "confirmed"}})
    assert [(r["run_id"], r["state"]) for r in again.to_dict("records")] == [("bert-25", "confirmed")]
    assert counts.get("pending", 0) == 0  # the newest run continues the change: no second flag
    # Back at the old level later: a fix, an improvement; the slowdown is not refuted after the fact.
    fixed, _ = regression_findings(
        pd.DataFrame(_runs([*base, 125.0, 126.0, base[-1]])), NOW, {SERIES: {"bert-25": "confirmed"}}
    )
    assert ("bert-25", "confirmed") in [(r["run_id"], r["state"]) for r in fixed.to_dict("records")]
    # Once enough slow runs make it a change point, the change point takes its place: one row.
    later, _ = regression_findings(
        pd.DataFrame(_runs([*base, 125.0, 126.0, 124.0, 127.0])), NOW, {SERIES: {"bert-25": "confirmed"}}
    )
    assert [(r["run_id"], r["method"]) for r in later.to_dict("records")] == [("bert-25", "change_point")]


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
        read_open_findings,
        read_results_history,
        write_partition_results,
        write_regressions,
    )

    db_path = tmp_path / "results.duckdb"
    for row in _runs([*_noisy(25, seed=3), 125.0]):
        write_partition_results(db_path, [row], [], dagster_run_id=row["run_id"], hardware="cpu", model_type="bert")
    rows, _ = regression_findings(read_results_history(db_path), NOW)
    assert write_regressions(db_path, rows.to_dict("records")) == 1
    assert read_open_findings(db_path) == {SERIES: {"bert-25": "pending"}}


def test_judging_the_store_in_batches_finds_what_one_batch_finds_and_merges_it(tmp_path):
    from mlperf_pipeline.analysis.stored import judge_stored_regressions
    from mlperf_pipeline.store.results import read_open_findings, write_partition_results

    db_path = tmp_path / "results.duckdb"
    series = {
        "bert": _noisy(20) + _noisy(10, level=130.0, seed=2),  # an old step
        "gpt2": [*_noisy(25, seed=3), 125.0],  # a slow latest run
        "t5": _noisy(30, seed=5),
        "vit": _noisy(4, seed=6),  # too little history
    }
    for model_type, levels in series.items():
        rows = _runs(levels, model_type=model_type)
        write_partition_results(
            db_path, rows, [], dagster_run_id="r-" + model_type, hardware="cpu", model_type=model_type
        )
    lines = []
    one_at_a_time = judge_stored_regressions(db_path, NOW, batch_runs=1, progress=lines.append)
    assert len(lines) == 4 and lines[-1].startswith("regressions: judged 4 series (90 of 90 runs)")
    all_at_once = judge_stored_regressions(db_path, NOW)
    columns = ["model_type", "run_id", "method", "state", "change_pct"]
    assert one_at_a_time.rows[columns].equals(all_at_once.rows[columns])
    assert one_at_a_time.counts == all_at_once.counts
    assert one_at_a_time.counts["insufficient_history"] == 1 and one_at_a_time.counts["series"] == 4
    assert {("bert", "change_point"), ("gpt2", "latest_run")} <= set(
        zip(all_at_once.rows["model_type"], all_at_once.rows["method"])
    )
    # Merged, not appended: judging twice leaves one row per finding.
    assert all_at_once.written == len(all_at_once.rows)
    assert [set(found) for found in read_open_findings(db_path).values()] == [{"gpt2-25"}]


def test_a_suspect_names_the_versions_that_changed_and_a_new_override():
    from mlperf_pipeline.analysis.regressions import KnownVersions

    env_a = {"hardware": "cpu", "cores": 2, "packages": {"torch": "2.13.0", "transformers": "5.1.0"}}
    env_b = {**env_a, "packages": {"torch": "2.14.0", "transformers": "5.1.0"}}
    known = KnownVersions({"env-a": env_a, "env-b": env_b}, {"skill-1": False, "skill-2": True})
    levels = _noisy(20) + _noisy(10, level=130.0, seed=2)
    rows = _runs(levels, env=["env-a"] * 20 + ["env-b"] * 10)
    for row in rows[20:]:
        row["skillset_hash"] = "skill-2"
    found, _ = regression_findings(pd.DataFrame(rows), NOW, known=known)
    assert found["suspect"].tolist() == [
        "environment: torch 2.13.0 -> 2.14.0; skillset: skill-1 -> skill-2 (a new override)"
    ]
    unknown, _ = regression_findings(pd.DataFrame(rows), NOW)  # fingerprints the store never recorded
    assert unknown["suspect"].tolist() == ["environment: env-a -> env-b; skillset: skill-1 -> skill-2"]


def test_series_with_null_keys_and_no_process_medians_are_judged_and_stored(tmp_path):
    # Pixel models store no sequence length, concurrent and single-process runs no per-process
    # medians: both mixed with ordinary series in one batch.
    from mlperf_pipeline.analysis.stored import judge_stored_anomalies, judge_stored_regressions
    from mlperf_pipeline.store.results import read_anomalies, read_regressions, write_partition_results

    db_path = tmp_path / "results.duckdb"
    steady = _runs(_noisy(20) + _noisy(10, level=130.0, seed=2))
    pixel = _runs(_noisy(20, seed=7) + _noisy(10, level=150.0, seed=8), start_index=100)
    for row in pixel:
        row.update(seq_len=None, process_medians_ms=None)
    pixel[5]["latency_ms_p50"] *= 1.6  # one far run
    write_partition_results(db_path, steady + pixel, [], dagster_run_id="r-1", hardware="cpu", model_type="bert")
    regressions = judge_stored_regressions(db_path, NOW)
    assert regressions.counts["judged"] == 2 and regressions.written == 2
    stored = read_regressions(db_path)
    assert sorted(stored["seq_len"].isna()) == [False, True] and set(stored["method"]) == {"change_point"}
    anomalies = judge_stored_anomalies(db_path, NOW)
    assert "bert-105" in set(read_anomalies(db_path)["run_id"]) and anomalies.written >= 1
    judge_stored_anomalies(db_path, NOW)  # judged again: the null-keyed series' rows replaced, not doubled
    assert len(read_anomalies(db_path)) == anomalies.written
