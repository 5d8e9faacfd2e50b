"""The environment fingerprint: stable while nothing changes, different when a tracked version does."""

from importlib import metadata

import pytest

from mlperf_pipeline.hardware import fingerprint as fingerprint_module
from mlperf_pipeline.hardware.detect import DeviceInfo, detect
from mlperf_pipeline.hardware.fingerprint import environment, fingerprint


def test_the_environment_names_device_cpu_python_os_and_library_versions():
    env = environment(detect("cpu"))
    assert env["hardware"] == "cpu" and env["present"] is True
    assert env["cpu_model"] and env["cores"] >= 1 and env["python"] and env["os"]
    assert {"torch", "transformers"} <= set(env["packages"])
    assert env["packages"]["torch"] == metadata.version("torch")
    assert env["packages"]["transformers"] == metadata.version("transformers")


def test_the_fingerprint_is_the_same_across_two_calls():
    first = environment(detect("cpu"))
    second = environment(detect("cpu"))
    assert first == second
    assert fingerprint(first) == fingerprint(second)
    assert len(fingerprint(first)) == 16 and fingerprint(first) != "absent"


@pytest.mark.parametrize("package", ["torch", "transformers"])
def test_the_fingerprint_changes_when_a_library_version_changes(monkeypatch, package):
    before = fingerprint(environment(detect("cpu")))
    real_version = metadata.version

    def bumped(name):
        return "999.0" if name == package else real_version(name)

    monkeypatch.setattr(fingerprint_module.metadata, "version", bumped)
    env = environment(detect("cpu"))
    assert env["packages"][package] == "999.0"
    assert fingerprint(env) != before


def test_the_fingerprint_changes_with_any_field_and_not_with_key_order():
    env = environment(detect("cpu"))
    assert fingerprint(dict(reversed(list(env.items())))) == fingerprint(env)
    assert fingerprint({**env, "driver": "555.42"}) != fingerprint(env)
    assert fingerprint({**env, "cores": env["cores"] + 1}) != fingerprint(env)


def test_absent_hardware_has_the_absent_fingerprint():
    env = environment(DeviceInfo("cuda", False, detail="no NVIDIA driver: NVMLError_LibraryNotFound"))
    assert env["present"] is False and env["devices"] == []
    assert fingerprint(env) == "absent"
