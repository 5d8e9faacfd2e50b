import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlperf_pipeline.hardware.detect import inventory
from mlperf_pipeline.skillsets.generate import generate, load_record, spec_for
from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module
from mlperf_pipeline.skillsets.runtime import first_tensor
from mlperf_pipeline.skillsets.spec import verdict_for


def test_generated_module_builds_the_model_offline_and_runs_a_finite_forward(bert_record):
    module = load_skillset_module(Path(bert_record.path))
    model = module.build("tiny")
    inputs = module.inputs(model, batch_size=2, seq_len=16)
    with torch.inference_mode():
        output = first_tensor(model(**inputs))
    assert output.shape[:2] == (2, 16)
    assert torch.isfinite(output).all()
    assert sum(p.numel() for p in model.parameters()) == module.PARAMS["tiny"]
    assert "dagster" not in Path(bert_record.path).read_text()


@pytest.mark.slow
def test_skillset_runs_standalone_and_prints_a_result(bert_record):
    completed = subprocess.run(
        [sys.executable, bert_record.path, "--hardware", "cpu", "--size", "tiny", "--iterations", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["model_type"] == "bert" and result["finite"] and result["latency_ms_median"] > 0


def test_record_round_trips_and_its_data_version_tracks_module_and_verdict(bert_record, skillset_dir):
    loaded = load_record(skillset_dir, "cpu", "bert")
    assert loaded.data_version == bert_record.data_version
    loaded.verdict = {**loaded.verdict, "present": False}
    assert loaded.data_version != bert_record.data_version
    with pytest.raises(FileNotFoundError, match="materialise `skillsets`"):
        load_record(skillset_dir, "cuda", "bert")


@pytest.mark.parametrize("model_type", ["t5", "clip", "whisper", "wav2vec2", "vit"])
def test_every_modality_gets_valid_inputs(model_type, tmp_path):
    devices = inventory()
    record = generate(spec_for(model_type), devices["cpu"], tmp_path, None, devices)
    module = load_skillset_module(Path(record.path))
    model = module.build("tiny")
    with torch.inference_mode():
        output = first_tensor(model(**module.inputs(model, batch_size=1, seq_len=32)))
    assert torch.isfinite(output).all()


def test_full_size_verdicts_come_from_the_meta_device_parameter_count():
    spec = spec_for("llama")
    assert spec.params["full"] > 6e9 and spec.params["tiny"] < 5e6
    verdict = verdict_for(spec, "cpu", present=True, memory_bytes=24 * 2**30)
    assert verdict.runnable("tiny") and not verdict.runnable("full")
    assert verdict.sizes["full"] == "too_large" and "GiB" in verdict.reason
    absent = verdict_for(spec, "cuda", present=False, memory_bytes=None)
    assert absent.sizes == {"tiny": "hardware_absent", "full": "hardware_absent"}
    with pytest.raises(ValueError, match="unknown hardware 'tpu'"):
        verdict_for(spec, "tpu", present=True, memory_bytes=None)


def test_an_override_file_replaces_the_generated_skillset_and_changes_the_data_version(tmp_path, bert_record):
    devices = inventory()
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    generated = Path(bert_record.path).read_text()
    assert "'num_hidden_layers': 2" in generated
    custom = generated.replace("'num_hidden_layers': 2", "'num_hidden_layers': 1")
    (overrides / "hf_bert.py").write_text(custom)
    record = generate(spec_for("bert"), devices["cpu"], tmp_path / "out", overrides, devices)
    assert record.overridden and record.path == str(overrides / "hf_bert.py")
    assert record.data_version != bert_record.data_version
    model = load_skillset_module(Path(record.path)).build("tiny")
    assert model.config.num_hidden_layers == 1


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def build(:\n", "does not parse"),
        ("def build(size='tiny', device='cpu', dtype='float32'):\n    pass\n", "does not define inputs()"),
    ],
)
def test_a_broken_override_becomes_an_invalid_config_verdict_naming_the_file(tmp_path, source, problem):
    devices = inventory()
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "hf_bert.py").write_text(source)
    record = generate(spec_for("bert"), devices["cpu"], tmp_path / "out", overrides, devices)
    assert record.verdict["sizes"] == {"tiny": "invalid_config", "full": "invalid_config"}
    assert problem in record.verdict["reason"] and "hf_bert.py" in record.verdict["reason"]
    assert not record.runnable("tiny")


def test_full_size_whisper_gets_exactly_the_3000_frames_it_requires(tmp_path):
    devices = inventory()
    record = generate(spec_for("whisper"), devices["cpu"], tmp_path, None, devices)
    module = load_skillset_module(Path(record.path))
    model = module.build("full")
    inputs = module.inputs(model, batch_size=1, seq_len=8)
    assert inputs["input_features"].shape[-1] == 2 * model.config.max_source_positions == 3000
    with torch.inference_mode():
        assert torch.isfinite(first_tensor(model(**inputs))).all()
