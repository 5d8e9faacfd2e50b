"""Environment versions: one fingerprint per hardware partition, `absent` where the hardware is not there."""

from mlperf_pipeline.hardware import fingerprint as fingerprint_module
from mlperf_pipeline.hardware.detect import HARDWARE, DeviceInfo
from mlperf_pipeline.hardware.fingerprint import environment, environment_versions, fingerprint


def test_every_hardware_partition_gets_a_version(monkeypatch):
    monkeypatch.setattr(
        fingerprint_module, "detect", lambda hardware: DeviceInfo(hardware, hardware == "cpu", ["a device"])
    )
    versions = environment_versions()
    assert tuple(versions) == HARDWARE
    assert {hardware for hardware, version in versions.items() if version == "absent"} == set(HARDWARE) - {"cpu"}
    assert versions["cpu"] == fingerprint(environment(DeviceInfo("cpu", True, ["a device"])))
    assert len(versions["cpu"]) == 16 and int(versions["cpu"], 16) >= 0


def test_the_fingerprint_is_the_short_hash_of_the_sorted_environment():
    # The format before the move (a change would make every partition outdated).
    assert fingerprint({"present": True, "b": 1, "a": [2]}) == "96bb5d9dffa9b265"
    assert fingerprint({"present": False, "anything": 1}) == "absent"
