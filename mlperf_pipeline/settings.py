"""The defaults file (`defaults.yaml`, or the copy named by `MLPERF_SETTINGS`), read in one place."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

_PACKAGED = Path(__file__).with_name("defaults.yaml")
PROFILE_TAG = "mlperf/profile"
FORCE_TAG = "mlperf/force"  # "true": re-measure even partitions whose inputs are unchanged

_AUTOMATION_DEFAULTS = {
    "nightly_cron": "0 2 * * *",
    "timezone": "UTC",
    "sentinel_tier": "critical",
    "sentinel_models": [],
    "sentinel_profile": "main",
    "nightly_tier": "all",
    "nightly_profile": "default",
    "catalog_interval_s": 300,
    "environment_interval_s": 300,
    "overrides_interval_s": 60,
    "automation_interval_s": 60,
    "confirmation_interval_s": 60,
    "dead_run_interval_s": 15,
    "dead_run_grace_s": 30,
    "maintenance_cron": "0 4 * * 0",
    "snapshot_retention_days": 7,
}


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    try:
        settings = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read settings file {path}: {error}") from error
    if not isinstance(settings, dict) or not isinstance(settings.get("profiles"), dict):
        raise ValueError(f"settings file {path} must be a mapping with a `profiles` mapping")
    return settings


def settings() -> dict:
    return _load(os.environ.get("MLPERF_SETTINGS", str(_PACKAGED)))


def benchmark_profile(name: str | None) -> dict:
    profiles = settings()["profiles"]
    name = name or "default"
    if name not in profiles:
        raise ValueError(f"unknown benchmark profile {name!r} (tag {PROFILE_TAG}): expected one of {sorted(profiles)}")
    return {**profiles["default"], **profiles[name]}


_REPORT_DEFAULTS = {
    "latency_bound_ms": 100.0,
    "unstable_noise_pct": 10.0,
}


def _section(name: str, defaults: dict) -> dict:
    """A section of the settings file with its defaults filled in; an unknown field is an error."""
    section = settings().get(name) or {}
    if not isinstance(section, dict):
        raise ValueError(f"settings: `{name}` must be a mapping")
    unknown = sorted(set(section) - set(defaults))
    if unknown:
        raise ValueError(f"settings: unknown {name} field(s) {unknown}: expected some of {sorted(defaults)}")
    return {**defaults, **section}


def automation_settings() -> dict:
    """The `automation` section with defaults filled in; MLPERF_NIGHTLY_CRON and MLPERF_TIMEZONE override."""
    merged = _section("automation", _AUTOMATION_DEFAULTS)
    merged["nightly_cron"] = os.environ.get("MLPERF_NIGHTLY_CRON") or merged["nightly_cron"]
    merged["timezone"] = os.environ.get("MLPERF_TIMEZONE") or merged["timezone"]
    return merged


def report_settings() -> dict:
    """The `report` section: the latency bound of the batch recommendation (null: none) and the
    run-to-run sigma above which a series is listed as unstable."""
    merged = _section("report", _REPORT_DEFAULTS)
    for name, value in merged.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"settings: report.{name} must be a positive number, got {value!r}")
    if merged["unstable_noise_pct"] is None:
        raise ValueError("settings: report.unstable_noise_pct must be a positive number, got None")
    return merged


def configured_hardware() -> list[str]:
    """The settings' `hardware` list: hardware partitions the deployment has besides what this host
    detects (its workers' devices, on a cluster whose daemon host has none). Default: none."""
    configured = settings().get("hardware") or []
    if not isinstance(configured, list) or not all(isinstance(name, str) for name in configured):
        raise ValueError(f"settings: `hardware` must be a list of hardware names, got {configured!r}")
    return configured


_ROUTE_FIELDS = {"queue", "node_selector", "tolerations", "device_resource"}


def routing_settings() -> dict:
    """The `routing` section: `default_queue` and, per hardware, its queue and Kubernetes placement."""
    routing = settings().get("routing") or {}
    if not isinstance(routing, dict) or not isinstance(routing.get("hardware", {}), dict):
        raise ValueError(f"settings: `routing` must be a mapping with a `hardware` mapping, got {routing!r}")
    routes = {}
    for hardware, route in (routing.get("hardware") or {}).items():
        if not isinstance(route, dict) or not isinstance(route.get("queue"), str):
            raise ValueError(f"settings: routing.hardware.{hardware} needs a `queue` name, got {route!r}")
        unknown = set(route) - _ROUTE_FIELDS
        if unknown:
            raise ValueError(
                f"settings: routing.hardware.{hardware} has unknown fields {sorted(unknown)}; "
                f"expected {sorted(_ROUTE_FIELDS)}"
            )
        routes[hardware] = route
    return {"default_queue": str(routing.get("default_queue", "cpu")), "hardware": routes}
