"""Sensors, the nightly schedule, declarative automation and incremental reruns, on real instances."""

import datetime
import time

import dagster as dg
import pytest
import yaml

from mlperf_pipeline.bench.request import BENCH_VERSION
from mlperf_pipeline.hardware import fingerprint as fingerprint_module
from mlperf_pipeline.orchestration.assets import benchmarks as benchmarks_module
from mlperf_pipeline.orchestration.assets.benchmarks import benchmark_results
from mlperf_pipeline.orchestration.assets.skillsets import skillsets
from mlperf_pipeline.orchestration.definitions import build_definitions, defs
from mlperf_pipeline.orchestration.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    contiguous_ranges,
    range_tags,
    split_key,
)
from mlperf_pipeline.orchestration.resources import resources_under
from mlperf_pipeline.orchestration.schedules import nightly_schedule
from mlperf_pipeline.orchestration.sensors import environment_sensor, model_catalog_sensor, skillset_overrides_sensor
from mlperf_pipeline.settings import FORCE_TAG, settings
from mlperf_pipeline.store.results import read_results_history, write_partition_results
from mlperf_pipeline_tests.store.factories import result_row

MODELS = ["bert", "distilbert"]
FAST = {
    "ops": {"benchmark_results": {"config": {"seq_lens": [16], "max_seconds_per_config": 0.5, "target_ci_pct": 10.0}}}
}
BENCH = dg.AssetKey("benchmark_results")


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions("model_type", MODELS)
        # cpu is here; cuda is hardware a deployment lists for its workers, absent on this host.
        test_instance.add_dynamic_partitions("hardware", ["cpu", "cuda"])
        yield test_instance


def _tick(sensor, instance, cursor=None, resources=None):
    """One sensor tick as the daemon runs it: its asset events are recorded on the instance."""
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
    if isinstance(result, dg.SensorResult):
        for event in result.asset_events:
            instance.report_runless_asset_event(event)
    return result


def _requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, set[str]]:
    return {
        key.to_user_string(): set(result.get_requested_partitions(key))
        for key in (r.key for r in result.results)
        if result.get_num_requested(key)
    }


def _materialise_requested(requested, instance, resources):
    """Run what the automation sensor asked for as a launcher does: one run per hardware and contiguous range."""
    registered = instance.get_dynamic_partitions("model_type")
    by_hardware = {}
    for partition in requested.get("skillsets", set()) | requested.get("benchmark_results", set()):
        hardware, model_key = split_key(partition)
        by_hardware.setdefault(hardware, []).append(model_key)
    for hardware, models in sorted(by_hardware.items()):
        for first, last in contiguous_ranges(models, registered):
            result = dg.materialize(
                [skillsets, benchmark_results],
                instance=instance,
                resources=resources,
                tags=range_tags(hardware, first, last),
                run_config=FAST,
            )
            assert result.success


def test_automation_is_on_by_default_and_has_no_eager_conditions():
    for name in (
        "model_catalog_sensor",
        "environment_sensor",
        "skillset_overrides_sensor",
        "regression_confirmation_sensor",
        "mlperf_automation_sensor",
    ):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING and schedule.cron_schedule == "0 2 * * *"
    graph = defs.resolve_asset_graph()
    for key in (
        "skillsets",
        "benchmark_results",
        "hardware_ceilings",
        "roofline_calibration",
        "performance_predictor",
        "regressions",
        "anomalies",
        "benchmark_report",
    ):
        condition = graph.get(dg.AssetKey(key)).automation_condition
        assert condition is not None and "eager" not in str(condition.get_label())
    assert isinstance(defs.resolve_sensor_def("mlperf_automation_sensor"), dg.AutomationConditionSensorDefinition)


def test_catalogue_sensor_retires_dropped_types(instance):
    instance.add_dynamic_partitions("model_type", ["no_such_model_type"])
    result = model_catalog_sensor(dg.build_sensor_context(instance=instance))
    deletes = [
        request
        for request in result.dynamic_partitions_requests
        if isinstance(request, dg.DeleteDynamicPartitionsRequest)
    ]
    assert deletes[0].partition_keys == ["no_such_model_type"]


def test_environment_sensor_observes_changes_only(instance, tmp_path):
    resources = resources_under(tmp_path)
    first = _tick(environment_sensor, instance, resources=resources)
    assert {event.partition for event in first.asset_events} == {"cpu", "cuda"}  # the registered hardware only
    versions = {event.partition: event.tags["dagster/data_version"] for event in first.asset_events}
    assert versions["cpu"] != "absent" and versions["cuda"] == "absent"
    second = _tick(environment_sensor, instance, cursor=first.cursor, resources=resources)
    assert not second.asset_events and second.skip_reason is not None


def test_environment_sensor_registers_the_deployments_hardware_only(tmp_path, monkeypatch):
    """Detected hardware, the settings' list and hardware with measured rows become partitions; a device
    kind nobody has, or one with only `skipped` rows, does not."""
    resources = resources_under(tmp_path)
    for hardware, status in (("rocm", "ok"), ("xpu", "skipped")):
        rows = [result_row(hardware=hardware, run_id=f"{hardware}-1", status=status)]
        write_partition_results(
            tmp_path / "results.duckdb", rows, [], dagster_run_id=f"{hardware}-1", hardware=hardware, model_type="bert"
        )
    listing_mps, listing_tpu = tmp_path / "mps.yaml", tmp_path / "tpu.yaml"
    listing_mps.write_text(yaml.safe_dump({**settings(), "hardware": ["mps"]}))
    listing_tpu.write_text(yaml.safe_dump({**settings(), "hardware": ["tpu"]}))
    monkeypatch.setenv("MLPERF_SETTINGS", str(listing_mps))
    with dg.instance_for_test() as fresh:
        first = _tick(environment_sensor, fresh, resources=resources)
        assert fresh.get_dynamic_partitions("hardware") == ["cpu", "rocm", "mps"]
        assert {event.partition for event in first.asset_events} == {"cpu", "rocm", "mps"}
        monkeypatch.setenv("MLPERF_SETTINGS", str(listing_tpu))
        with pytest.raises(ValueError, match="unknown hardware \\['tpu'\\]"):
            _tick(environment_sensor, fresh, cursor=first.cursor, resources=resources)
        assert fresh.get_dynamic_partitions("hardware") == ["cpu", "rocm", "mps"]  # nothing lost


@pytest.mark.slow
def test_automation_requests_exactly_what_changed(instance, tmp_path, monkeypatch):
    resources = resources_under(tmp_path)
    automation_defs = build_definitions(resources)
    env = _tick(environment_sensor, instance, resources=resources)
    overrides = _tick(skillset_overrides_sensor, instance, resources=resources)
    assert {event.tags["dagster/data_version"] for event in overrides.asset_events} == {"none"}

    first = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance)
    assert first.total_requested == 0  # what was already missing waits for the nightly schedule
    tags = range_tags("cpu", "bert", "distilbert")
    assert dg.materialize(
        [skillsets, benchmark_results], instance=instance, resources=resources, tags=tags, run_config=FAST
    ).success

    landed = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=first.cursor)
    # Detection and the report refresh after the benchmarks.
    assert _requested(landed) == {
        "roofline_calibration": {None},
        "performance_predictor": {None},
        "regressions": {None},
        "anomalies": {None},
        "benchmark_report": {None},
    }
    assert automation_defs.resolve_job_def("analysis_job").execute_in_process(instance=instance).success
    quiet = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=landed.cursor)
    assert quiet.total_requested == 0  # nothing changed, nothing requested

    # An edited override: only that type's partitions, on every registered hardware (absent cuda: `skipped`).
    (tmp_path / "overrides").mkdir()
    (tmp_path / "overrides" / "hf_bert.py").write_text(
        (tmp_path / "skillsets" / "hf_bert.py").read_text() + "\n# tuned by hand\n"
    )
    overrides = _tick(skillset_overrides_sensor, instance, cursor=overrides.cursor, resources=resources)
    assert [event.partition for event in overrides.asset_events] == ["bert"]
    edited = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=quiet.cursor)
    requested = _requested(edited)
    assert set(requested) == {"skillsets", "benchmark_results"}
    assert {str(key) for key in requested["benchmark_results"]} == {f"{hw}|bert" for hw in ("cpu", "cuda")}
    _materialise_requested(requested, instance, resources)
    history = read_results_history(tmp_path / "results.duckdb")
    assert set(history[history["hardware"] == "cuda"]["status"]) == {"skipped"}
    assert set(history[history["hardware"] == "cuda"]["reason_code"]) == {"hardware_absent"}
    after_edit = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=edited.cursor)
    assert set(_requested(after_edit)) <= {
        "roofline_calibration",
        "performance_predictor",
        "regressions",
        "anomalies",
        "benchmark_report",
    }

    # A changed cpu environment (say a new torch): only cpu's partitions.
    real = fingerprint_module.fingerprint
    changed = lambda environment: "0123456789abcdef" if environment.get("hardware") == "cpu" else real(environment)  # noqa: E731
    monkeypatch.setattr(fingerprint_module, "fingerprint", changed)
    monkeypatch.setattr(benchmarks_module, "fingerprint", changed)
    env = _tick(environment_sensor, instance, cursor=env.cursor, resources=resources)
    assert [event.partition for event in env.asset_events] == ["cpu"]
    upgraded = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=after_edit.cursor)
    requested = _requested(upgraded)
    assert {str(key) for key in requested["benchmark_results"]} == {"cpu|bert", "cpu|distilbert"}
    assert requested["hardware_ceilings"] == {"cpu"}  # a new torch: the roofline is measured again
    rows_before = len(read_results_history(tmp_path / "results.duckdb"))
    _materialise_requested(requested, instance, resources)
    assert len(read_results_history(tmp_path / "results.duckdb")) == rows_before + 2  # both re-measured

    # A device that appears: its partitions measured before (as `skipped`) re-run; cuda|distilbert,
    # never materialised, waits for the nightly schedule.
    monkeypatch.setattr(
        fingerprint_module,
        "fingerprint",
        lambda environment: "fedcba9876543210" if environment.get("hardware") == "cuda" else changed(environment),
    )
    env = _tick(environment_sensor, instance, cursor=env.cursor, resources=resources)
    appeared = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=upgraded.cursor)
    assert {str(key) for key in _requested(appeared)["skillsets"]} == {"cuda|bert"}


@pytest.mark.slow
def test_second_run_over_an_unchanged_range_measures_nothing_unless_forced(instance, tmp_path):
    resources = resources_under(tmp_path)
    job = build_definitions(resources).resolve_job_def("benchmark_job")
    tags = range_tags("cpu", "bert", "distilbert")
    assert job.execute_in_process(instance=instance, tags=tags, run_config=FAST).success
    rows = len(read_results_history(tmp_path / "results.duckdb"))
    started = time.monotonic()
    second = job.execute_in_process(instance=instance, tags=tags, run_config=FAST)
    elapsed = time.monotonic() - started
    assert second.success and elapsed < 10, elapsed
    assert len(read_results_history(tmp_path / "results.duckdb")) == rows
    events = second.get_asset_materialization_events()
    assert (
        sum(1 for event in events if event.materialization.metadata.get("measured") == dg.BoolMetadataValue(False)) == 2
    )
    forced = job.execute_in_process(
        instance=instance, tags={**range_tags("cpu", "bert", "bert"), FORCE_TAG: "true"}, run_config=FAST
    )
    assert forced.success and len(read_results_history(tmp_path / "results.duckdb")) == rows + 1


def test_nightly_schedule_forces_sentinels_and_fills_gaps_in_ranges(instance):
    instance.add_dynamic_partitions("model_type", ["beit"])  # registered after the critical tier, as in tier order
    # cuda|bert was materialised as skipped under the `absent` environment: not outdated.
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            BENCH, partition="cuda|bert", tags={"dagster/data_version": f"s=x:e=absent:b={BENCH_VERSION}:g=y:r=z"}
        )
    )
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime.datetime(2026, 1, 1, 2, tzinfo=datetime.timezone.utc)
    )
    requests = nightly_schedule(context)
    runs = {(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG], r.tags.get(FORCE_TAG)) for r in requests}
    assert ("cpu|bert", "cpu|distilbert", "true") in runs  # sentinels (critical tier) on present hardware, forced
    assert ("cpu|beit", "cpu|beit", None) in runs  # missing, not a sentinel
    assert ("cuda|distilbert", "cuda|beit", None) in runs  # absent hardware: missing ones once, as `skipped`
    assert not any(start.startswith("cuda|bert") for start, _, _ in runs)
    assert not any(force for start, _, force in runs if not start.startswith("cpu|"))
    assert len({r.run_key for r in requests}) == len(requests)
    # Sentinels at full size where it fits (profile `main`), the sweep as the tiny coverage pass.
    profiles = {r.tags[RANGE_START_TAG]: r.tags["mlperf/profile"] for r in requests}
    assert profiles["cpu|bert"] == "main" and profiles["cpu|beit"] == "default"


@pytest.mark.slow
def test_a_first_or_changed_environment_reruns_only_what_was_measured(instance, tmp_path, monkeypatch):
    """A fresh instance's first look at its hardware is a data version "changed" from nothing: it must
    not request the whole catalogue (missing partitions wait for the nightly schedule), and a later
    change re-runs the partitions measured before, not the ones never measured."""
    resources = resources_under(tmp_path)
    automation_defs = build_definitions(resources)
    _tick(skillset_overrides_sensor, instance, resources=resources)
    first = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance)
    assert first.total_requested == 0
    env = _tick(
        environment_sensor, instance, resources=resources
    )  # the first observation, after the sensor's first look
    observed = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=first.cursor)
    # The ceilings, one partition per registered hardware, are measured once (absent cuda: skipped);
    # not one skillset or benchmark of the catalogue.
    assert _requested(observed) == {"hardware_ceilings": {"cpu", "cuda"}}

    tags = range_tags("cpu", "bert", "bert")
    assert dg.materialize(
        [skillsets, benchmark_results], instance=instance, resources=resources, tags=tags, run_config=FAST
    ).success
    landed = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=observed.cursor)
    assert not {"skillsets", "benchmark_results"} & set(_requested(landed))

    real = fingerprint_module.fingerprint
    changed = lambda environment: "0123456789abcdef" if environment.get("hardware") == "cpu" else real(environment)
    monkeypatch.setattr(fingerprint_module, "fingerprint", changed)
    monkeypatch.setattr(benchmarks_module, "fingerprint", changed)
    _tick(environment_sensor, instance, cursor=env.cursor, resources=resources)
    upgraded = dg.evaluate_automation_conditions(defs=automation_defs, instance=instance, cursor=landed.cursor)
    requested = _requested(upgraded)
    assert {str(key) for key in requested["skillsets"]} == {"cpu|bert"}
    assert {str(key) for key in requested["benchmark_results"]} == {"cpu|bert"}
    assert requested["hardware_ceilings"] == {"cpu"}  # one partition per hardware: measured for a new torch
