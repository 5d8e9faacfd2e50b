"""The defaults file's `report` section: defaults filled in, bad values named."""

import pytest
import yaml

from mlperf_pipeline import settings as settings_module
from mlperf_pipeline.settings import report_settings


def _with(tmp_path, monkeypatch, report) -> None:
    packaged = yaml.safe_load(settings_module._PACKAGED.read_text())
    packaged["report"] = report
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(packaged))
    monkeypatch.setenv("MLPERF_SETTINGS", str(tmp_path / "settings.yaml"))


def test_the_shipped_report_settings():
    assert report_settings() == {"latency_bound_ms": 100, "unstable_noise_pct": 10}


def test_a_missing_field_takes_its_default_and_the_bound_can_be_switched_off(tmp_path, monkeypatch):
    _with(tmp_path, monkeypatch, {"latency_bound_ms": None})
    assert report_settings() == {"latency_bound_ms": None, "unstable_noise_pct": 10.0}


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"latency_bound": 50}, r"unknown report field\(s\) \['latency_bound'\]"),
        ({"latency_bound_ms": -5}, r"report.latency_bound_ms must be a positive number, got -5"),
        ({"unstable_noise_pct": "high"}, r"report.unstable_noise_pct must be a positive number, got 'high'"),
        ({"unstable_noise_pct": None}, r"report.unstable_noise_pct must be a positive number, got None"),
        (["latency_bound_ms"], r"`report` must be a mapping"),
    ],
)
def test_bad_report_settings_are_named(tmp_path, monkeypatch, report, message):
    _with(tmp_path, monkeypatch, report)
    with pytest.raises(ValueError, match=message):
        report_settings()
