"""A regression injected into a real measured series, end to end: a skillset override that adds
work is measured by a real benchmark run, flagged by `regressions`, re-measured by the run the
confirmation sensor requests, confirmed, fails the check and leads the report. A run with nothing
changed confirms nothing.

The series' earlier history is written to the store (12 runs around the first two real runs' level,
at the normal quantiles of a 30% run-to-run sigma, so that the detector's robust sigma is that by
construction). That is wider than this host's own run-to-run noise for a tiny model, so that a
real unchanged run cannot pass for a change: once, the first real run alone was 30% slower than the
next two, and once (CI, 2026-12-03) the two runs after them were both about 40% slower, which a
history of 20% drawn at random (its robust sigma came out at 14%) confirmed as a regression. The
override below makes the model about 5.5 times slower, far beyond the 2.0 times that confirming
needs at 30%. Every run after the seeded ones is a real measurement.
"""

from datetime import timedelta

import dagster as dg
import numpy as np
import pytest
from scipy.stats import norm

from mlperf_pipeline.orchestration.assets.detection import anomalies, regressions
from mlperf_pipeline.orchestration.assets.report import benchmark_report
from mlperf_pipeline.orchestration.definitions import build_definitions
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.orchestration.sensors import regression_confirmation_sensor
from mlperf_pipeline.store.db import connect
from mlperf_pipeline.store.results import read_results_history, write_partition_results

PARTITION = "cpu|bert"
# Short configurations: a tiny bert at seq 16, at most 1 s per configuration.
CONFIG = {"seq_lens": [16], "max_seconds_per_config": 1.0}
HISTORY_SIGMA = 0.3
SEEDED_RUNS = 12


def _measure(job: dg.JobDefinition, instance, config: dict, tags: dict) -> None:
    result = job.execute_in_process(
        run_config={"ops": {"benchmark_results": {"config": config}}},
        partition_key=PARTITION,
        tags={"mlperf/force": "true", "mlperf/profile": "default", **tags},
        instance=instance,
    )
    assert result.success


def _seed_history(db_path) -> None:
    """SEEDED_RUNS earlier runs of the series the first two real runs measured, around their mean level (one
    real run alone may have caught a slow or a fast minute of this host)."""
    stored = read_results_history(db_path)
    # Nulls as None: an `ok` row beside an `invalid` one has a NaN reason code in a pandas column.
    real = stored.astype(object).where(stored.notna(), None).to_dict("records")
    level = float(np.exp(np.mean([np.log(row["latency_ms_p50"]) for row in real])))
    first = min(real, key=lambda row: row["measured_at"])
    rng = np.random.default_rng(3)
    # The normal quantiles, in a random order: a robust sigma of HISTORY_SIGMA, not a small sample's luck.
    quantiles = rng.permutation(norm.ppf((np.arange(SEEDED_RUNS) + 0.5) / SEEDED_RUNS))
    for index, quantile in enumerate(quantiles):
        run_level = level * float(np.exp(HISTORY_SIGMA * quantile))
        medians = [run_level * float(np.exp(0.02 * z)) for z in rng.standard_normal(len(first["process_medians_ms"]))]
        row = {
            **{key: value for key, value in first.items() if key != "dagster_run_id"},
            "run_id": f"seeded-{index}",
            "measured_at": first["measured_at"] - timedelta(hours=SEEDED_RUNS - index),
            "latency_ms_p50": float(np.mean(medians)),
            "process_medians_ms": medians,
        }
        write_partition_results(db_path, [row], [], dagster_run_id=f"seeded-{index}", hardware="cpu", model_type="bert")


def _judge(resources: dict, instance) -> tuple[dg.AssetCheckEvaluation, list[tuple]]:
    result = dg.materialize([regressions, anomalies], resources=resources, instance=instance)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    with connect(resources["results_store"].path, read_only=True) as conn:
        findings = conn.execute("SELECT method, state, severity, suspect, run_id FROM regressions").fetchall()
    return check, findings


def _confirm(resources: dict, instance, job: dg.JobDefinition) -> int:
    """Run what the confirmation sensor requests; the number of runs it requested."""
    evaluation = regression_confirmation_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    requests = [] if isinstance(evaluation, dg.SkipReason) else evaluation.run_requests
    for request in requests:
        assert request.partition_key == PARTITION and request.tags["mlperf/profile"] == "default"
        config = request.run_config["ops"]["benchmark_results"]["config"]
        # The flagged run's own config (its short time budget too), with the series' configuration on top.
        assert config["max_seconds_per_config"] == 1.0 and config["seq_lens"] == [16] and config["size"] == "tiny"
        _measure(job, instance, config, request.tags)
    return len(requests)


@pytest.mark.slow
def test_an_override_that_adds_work_is_flagged_re_measured_confirmed_and_leads_the_report(tmp_path):
    resources = resources_under(tmp_path)
    job = build_definitions(resources).resolve_job_def("benchmark_job")
    db_path = tmp_path / "results.duckdb"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("model_type", ["bert"])
        instance.add_dynamic_partitions("hardware", ["cpu"])
        _measure(job, instance, CONFIG, {})
        _measure(job, instance, CONFIG, {})
        _seed_history(db_path)

        # Nothing changed: a real re-measurement confirms nothing (and so requests at most one rerun).
        _measure(job, instance, CONFIG, {})
        check, findings = _judge(resources, instance)
        _confirm(resources, instance, job)
        check, findings = _judge(resources, instance)
        assert check.passed and not [f for f in findings if f[1] == "confirmed"], findings

        # A skillset override that adds work: 12 layers instead of the tiny model's few.
        (tmp_path / "overrides").mkdir()
        (tmp_path / "overrides" / "hf_bert.yaml").write_text("config:\n  num_hidden_layers: 12\n")
        _measure(job, instance, CONFIG, {})
        check, findings = _judge(resources, instance)
        flagged = [f for f in findings if f[1] == "pending"]
        assert len(flagged) == 1 and flagged[0][0] == "latest_run" and flagged[0][2] == "major", findings
        assert flagged[0][3].startswith("skillset: ") and flagged[0][3].endswith("(a new override)"), flagged
        assert check.passed  # pending is not confirmed

        assert _confirm(resources, instance, job) == 1
        assert _confirm(resources, instance, job) == 0  # one re-measurement per flag
        check, findings = _judge(resources, instance)
        assert [f[1] for f in findings if f[4] == flagged[0][4]] == ["confirmed"]
        assert not check.passed and check.metadata["standing_slowdowns"].value == 1
        (plot,) = (tmp_path / "reports" / "history").glob("*.png")  # linked from the asset's metadata
        assert plot.name == "cpu_bert_tiny_1_16_float32_latency_1.png" and plot.read_bytes().startswith(b"\x89PNG")

        report = dg.materialize([benchmark_report], resources=resources, instance=instance)
        summary = report.asset_materializations_for_node("benchmark_report")[0].metadata["summary"].value
        # Right after the overview, before the advice and the tables.
        regressions = summary.split("## Confirmed regressions (1 standing)")[1].split("## Anomalous results")[0]
        assert (
            summary.index("## Overview")
            < summary.index("## Confirmed regressions")
            < summary.index("## Recommendations")
        )
        assert "bert" in regressions and "skillset: " in regressions
        html = (tmp_path / "reports" / "report.html").read_text()
        assert "data:image/png;base64," in html.split('<section id="regressions">')[1].split("</section>")[0]
