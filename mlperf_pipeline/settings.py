"""The defaults file (`defaults.yaml`, or the copy named by `MLPERF_SETTINGS`), read in one place."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

_PACKAGED = Path(__file__).with_name("defaults.yaml")
PROFILE_TAG = "mlperf/profile"


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
