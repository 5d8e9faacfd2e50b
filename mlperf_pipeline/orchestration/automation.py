"""Declarative automation: what makes a partition outdated, and the sensor that acts on it.

Not `eager()`: that re-requests on every upstream materialisation even when the data version is the
same, and requests partitions of hardware that is not there. Here a partition is requested when
it newly went missing (a new model type registered), when an upstream *data version* changed (the
`environment` fingerprint of its hardware, the `skillset_overrides` hash of its type, a
regenerated skillset) or when its own code version changed; on a new environment or code version
only the partitions materialised before re-run. On the sensor's first evaluation nothing already
missing is requested (`since_last_handled` resets on the initial evaluation); the nightly schedule
fills gaps.
"""

import dagster as dg

AC = dg.AutomationCondition

_NOT_BLOCKED = ~AC.any_deps_in_progress() & ~AC.in_progress()


def outdated_or_missing(
    ignore_missing: tuple[str, ...] = (), *, missing_on_change: bool = False
) -> dg.AutomationCondition:
    """Newly missing, an upstream data version changed (or an upstream is requested this tick), or
    the code version changed; not while upstreams are missing or running. `missing_on_change` lets a
    new environment or code version also request partitions never materialised (for an asset with
    a partition per hardware, where that is a handful, not the catalogue)."""
    deps_missing = AC.any_deps_missing()
    if ignore_missing:
        deps_missing = deps_missing.ignore(dg.AssetSelection.assets(*ignore_missing))
    # A hardware-wide or asset-wide change re-runs only what was measured before: on a fresh instance
    # the first observation of `environment` is a data version "changed" from nothing, and a new code
    # version applies to every partition, so without the gate either would request the whole
    # catalogue on every hardware (hours on 2 cores). Those never materialised are the nightly
    # schedule's gaps to fill. A per-type change (an edited override, a regenerated skillset) still
    # runs that type's partitions on every hardware, measured before or not.
    environment = dg.AssetSelection.assets("environment")
    hardware_changed = AC.any_deps_match(AC.data_version_changed()).allow(environment).with_label("environment_changed")
    type_changed = (
        AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested())
        .ignore(environment)
        .with_label("any_dep_data_version_changed")
    )
    wide_change = hardware_changed | AC.code_version_changed()
    if not missing_on_change:
        wide_change = (wide_change & ~AC.missing()).with_label("changed_since_measured")
    trigger = AC.newly_missing() | type_changed | wide_change
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
