"""Declarative automation: what makes a partition outdated, and the sensor that acts on it.

Not `eager()`: that re-requests on every upstream materialisation even when the data version is the
same, and requests partitions of hardware that is not there. Here a partition is requested when
it newly went missing (a new model type registered), when an upstream *data version* changed (the
`environment` fingerprint of its hardware, the `skillset_overrides` hash of its type, a
regenerated skillset) or when its own code version changed. On the sensor's first evaluation
nothing already missing is requested (`since_last_handled` resets on the initial evaluation); the
nightly schedule fills gaps.
"""

import dagster as dg

AC = dg.AutomationCondition

_NOT_BLOCKED = ~AC.any_deps_in_progress() & ~AC.in_progress()


def outdated_or_missing(ignore_missing: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """Newly missing, an upstream data version changed (or an upstream is requested this tick), or
    the code version changed; not while upstreams are missing or running."""
    deps_missing = AC.any_deps_missing()
    if ignore_missing:
        deps_missing = deps_missing.ignore(dg.AssetSelection.assets(*ignore_missing))
    trigger = (
        AC.newly_missing()
        | AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested()).with_label(
            "any_dep_data_version_changed"
        )
        | AC.code_version_changed()
    )
    return (trigger.since_last_handled() & ~deps_missing & _NOT_BLOCKED).with_label("outdated_or_missing")


def refresh_after_results() -> dg.AutomationCondition:
    """Downstream of the benchmarks: refresh once new results landed (a new data version of
    `benchmark_results`) and nothing upstream is running. Only the results trigger it: the report
    also reads the detectors' tables, which are refreshed by the same results in the same tick
    (and so the same run); their own new versions must not request the report a second time."""
    trigger = (
        AC.any_deps_match(AC.data_version_changed())
        .allow(dg.AssetSelection.assets("benchmark_results"))
        .with_label("results_data_version_changed")
        | AC.code_version_changed()
    )
    return (trigger.since_last_handled() & _NOT_BLOCKED).with_label("refresh_after_results")


def automation_sensor(interval_s: int) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "mlperf_automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        description="Evaluates the assets' automation conditions: re-runs exactly the partitions whose inputs changed.",
    )
