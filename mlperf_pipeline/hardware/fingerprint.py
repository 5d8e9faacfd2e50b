"""The environment fingerprint recorded with every result and used as the `environment` data version."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata

from mlperf_pipeline.hardware.detect import HARDWARE, DeviceInfo, cpu_model, detect, usable_cores

_TRACKED_PACKAGES = ("torch", "transformers", "numpy", "mlperf_pipeline")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device: DeviceInfo) -> dict:
    """Everything that can change a measurement without the code changing."""
    return {
        "hardware": device.hardware,
        "present": device.present,
        "devices": device.device_names,
        "driver": device.driver,
        "cpu_model": cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": {package: _version(package) for package in _TRACKED_PACKAGES},
    }


def fingerprint(env: dict) -> str:
    """Short stable hash of an environment dict; `absent` for hardware that is not there."""
    if not env.get("present", True):
        return "absent"
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]


def environment_versions() -> dict[str, str]:
    """The current fingerprint of every hardware partition (`absent` where not present)."""
    return {hardware: fingerprint(environment(detect(hardware))) for hardware in HARDWARE}
