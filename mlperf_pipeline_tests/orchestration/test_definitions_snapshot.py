"""Snapshot of the contract names the Dagster definitions expose today (DESIGN.md section 3).

Every set below is written out literally: adding, renaming or dropping an asset, check, job, sensor,
schedule or partitions definition fails here until the snapshot (and the README, and DESIGN.md) say
so. Loads the definitions only: nothing is materialised.
"""

import dagster as dg
import pytest

from mlperf_pipeline.definitions import defs


ASSET_KEYS = {
    "environment",
    "skillset_overrides",
    "hardware_inventory",
    "hardware_ceilings",
    "model_catalog",
    "skillsets",
    "benchmark_results",
    "roofline_calibration",
    "performance_predictor",
    "regressions",
    "anomalies",
    "benchmark_report",
}
OBSERVABLE_ASSETS = {"environment", "skillset_overrides"}
ASSET_CHECKS = {
    ("skillsets", "smoke"),
    ("regressions", "no_confirmed_regressions"),
    ("roofline_calibration", "no_calibration_drift"),
    ("roofline_calibration", "held_out_error_within_bound"),
    ("performance_predictor", "predictor_error_within_bound"),
}
JOBS = {"ci_smoke_job", "benchmark_job", "analysis_job", "ceilings_job", "store_maintenance_job"}
SENSORS = {
    "dead_run_sensor",
    "model_catalog_sensor",
    "environment_sensor",
    "skillset_overrides_sensor",
    "regression_confirmation_sensor",
    "mlperf_automation_sensor",
}
SCHEDULES = {"nightly_schedule", "store_maintenance_schedule"}

# What each asset (and check) is partitioned by: None, "hardware" (static), "model_type" (dynamic),
# or the hardware x model_type grid.
GRID = ("hardware", "model_type")
PARTITIONED_BY = {
    "environment": "hardware",
    "skillset_overrides": "model_type",
    "hardware_inventory": None,
    "hardware_ceilings": "hardware",
    "model_catalog": None,
    "skillsets": GRID,
    "benchmark_results": GRID,
    "roofline_calibration": None,
    "performance_predictor": None,
    "regressions": None,
    "anomalies": None,
    "benchmark_report": None,
}


def _describe(partitions_def):
    """A partitions definition as plain data: None, "hardware", "model_type" or a tuple of dimensions."""
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        # Both dimensions are dynamic: the grid holds the hardware the deployment registered, no more.
        assert partitions_def.name in ("hardware", "model_type"), partitions_def.name
        return partitions_def.name
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        dimensions = {dim.name: _describe(dim.partitions_def) for dim in partitions_def.partitions_defs}
        assert all(name == kind for name, kind in dimensions.items()), dimensions
        return tuple(sorted(dimensions))
    raise AssertionError(f"unexpected partitions definition {partitions_def!r}")


@pytest.fixture(scope="module")
def asset_graph():
    return defs.resolve_asset_graph()


def test_asset_keys(asset_graph):
    assert {key.to_user_string() for key in asset_graph.get_all_asset_keys()} == ASSET_KEYS
    assert {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()} == ASSET_KEYS


def test_observable_assets(asset_graph):
    observable = {
        key.to_user_string() for key in asset_graph.get_all_asset_keys() if asset_graph.get(key).is_observable
    }
    assert observable == OBSERVABLE_ASSETS


def test_asset_checks_with_their_asset(asset_graph):
    checks = {(key.asset_key.to_user_string(), key.name) for key in asset_graph.asset_check_keys}
    assert checks == ASSET_CHECKS
    # `smoke` runs per partition: its spec carries the grid's partitions definition
    described = {key.name: _describe(asset_graph.get(key).partitions_def) for key in asset_graph.asset_check_keys}
    assert described == {
        "smoke": GRID,
        "no_confirmed_regressions": None,
        "no_calibration_drift": None,
        "held_out_error_within_bound": None,
        "predictor_error_within_bound": None,
    }


def test_jobs():
    names = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert names == JOBS
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name


def test_sensors_are_declared_running():
    repository = defs.get_repository_def()
    assert {sensor.name for sensor in repository.sensor_defs} == SENSORS
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING, name


def test_schedules_are_declared_running():
    repository = defs.get_repository_def()
    assert {schedule.name for schedule in repository.schedule_defs} == SCHEDULES
    for name in SCHEDULES:
        assert defs.resolve_schedule_def(name).default_status == dg.DefaultScheduleStatus.RUNNING, name


def test_partitions_definitions(asset_graph):
    partitioned_by = {
        key.to_user_string(): _describe(asset_graph.get(key).partitions_def) for key in asset_graph.get_all_asset_keys()
    }
    assert partitioned_by == PARTITIONED_BY
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert {name: _describe(spec.partitions_def) for name, spec in specs.items()} == PARTITIONED_BY
    # skillsets and benchmark_results share one grid, so that one run carries both over a range
    assert specs["skillsets"].partitions_def == specs["benchmark_results"].partitions_def


# Each asset's upstream assets: the graph's edges.
UPSTREAM = {
    "environment": set(),
    "skillset_overrides": set(),
    "hardware_inventory": set(),
    "hardware_ceilings": {"environment"},
    "model_catalog": set(),
    "skillsets": {"model_catalog", "skillset_overrides", "environment"},
    "benchmark_results": {"skillsets", "environment"},
    "roofline_calibration": {"benchmark_results", "hardware_ceilings"},
    "performance_predictor": {"roofline_calibration", "benchmark_results", "hardware_ceilings", "skillsets"},
    "regressions": {"benchmark_results"},
    "anomalies": {"benchmark_results"},
    "benchmark_report": {
        "benchmark_results",
        "regressions",
        "anomalies",
        "hardware_ceilings",
        "performance_predictor",
        "roofline_calibration",
    },
}


def test_asset_dependencies(asset_graph):
    upstream = {
        key.to_user_string(): {parent.to_user_string() for parent in asset_graph.get(key).parent_keys}
        for key in asset_graph.get_all_asset_keys()
    }
    assert upstream == UPSTREAM


def test_duckdb_tables_show_their_column_schema(asset_graph):
    from mlperf_pipeline.store.schema import TABLE_COLUMNS

    for asset, table in (
        ("benchmark_results", "benchmark_results"),
        ("regressions", "regressions"),
        ("anomalies", "anomalies"),
        ("hardware_ceilings", "hardware_ceilings"),
        ("roofline_calibration", "calibration_params"),
        ("performance_predictor", "predictions"),
    ):
        schema = asset_graph.get(dg.AssetKey(asset)).metadata["dagster/column_schema"]
        assert [(column.name, column.type) for column in schema.columns] == TABLE_COLUMNS[table]
