"""The input-builder registry, the finite-output check and the check cache's runtime version (fast, no models)."""

import shutil
from types import SimpleNamespace

import pytest
import torch

from mlperf_pipeline.reasons import ReasonCode
from mlperf_pipeline.skillsets import checks
from mlperf_pipeline.skillsets.runtime import (
    NonFiniteOutput,
    SkillsetInfo,
    UnsupportedInputs,
    check_finite,
    make_inputs,
    reason_code,
)
from mlperf_pipeline.skillsets.runtime.inputs import InputContext, base, builds, has_builder, registered_inputs

# Every input the runtime built before builders were registered by name (one `_InputMaker` method each).
BUILT_BEFORE = [
    "actions",
    "aspect_ratio_ids",
    "aspect_ratio_mask",
    "attention_mask",
    "audio_mel",
    "audio_mel_mask",
    "bbox",
    "classes_attention_mask",
    "classes_input_ids",
    "classes_structure",
    "context_hidden_states",
    "cross_attention_mask",
    "decoder_input_ids",
    "encoder_hidden_states",
    "feature_attention_mask",
    "flattened_patches",
    "freq",
    "grid_thw",
    "hidden_states",
    "high_res_pixel_values",
    "image_attention_mask",
    "image_embeds_position_mask",
    "image_grid_hw",
    "image_grid_thw",
    "image_merge_sizes",
    "image_sizes",
    "input_features",
    "input_features_mask",
    "input_ids",
    "input_values",
    "inputs",
    "inputs_embeds",
    "latents",
    "marks",
    "merge_sizes",
    "noise_embeds",
    "num_options",
    "observed_mask",
    "past_observed_mask",
    "past_time_features",
    "past_values",
    "past_values_padding",
    "pixel_attention_mask",
    "pixel_position_ids",
    "pixel_values",
    "pixel_values_videos",
    "prompt_masks",
    "prompt_pixel_values",
    "qformer_attention_mask",
    "qformer_input_ids",
    "query_embeds",
    "question_type_ids",
    "returns_to_go",
    "rewards",
    "spatial_shapes",
    "states",
    "target_sizes",
    "task_inputs",
    "tasks_attention_mask",
    "tasks_input_ids",
    "timesteps",
    "token_type_ids",
    "visual_feats",
    "visual_pos",
]

INFO = SkillsetInfo("bert", "BertModel", "encoder", "text", {})


@pytest.mark.parametrize("name", BUILT_BEFORE)
def test_every_input_built_before_has_a_registered_builder(name):
    assert has_builder(name)


def test_registry_holds_builders_only():
    assert len(BUILT_BEFORE) == 64
    assert set(BUILT_BEFORE) <= registered_inputs()
    # the old class's helpers were never inputs
    assert not registered_inputs() & {"randn", "ones", "flat_patches", "token_rows", "series_length"}


class _NeedsMystery(torch.nn.Module):
    config = SimpleNamespace()

    def forward(self, mystery):
        return mystery


def test_an_input_without_a_builder_is_unsupported_and_named():
    with pytest.raises(UnsupportedInputs) as raised:
        make_inputs(_NeedsMystery(), INFO)
    assert str(raised.value) == "BertModel.forward needs 'mystery', which no input builder makes"
    assert reason_code(raised.value) == ReasonCode.UNSUPPORTED_INPUTS == "unsupported_inputs"


def test_the_context_makes_a_registered_input():
    context = InputContext(_NeedsMystery(), INFO, 2, 5, torch.Generator().manual_seed(0))
    assert context.make("attention_mask").tolist() == [[1] * 5] * 2
    with pytest.raises(UnsupportedInputs, match="needs 'mystery'"):
        context.make("mystery")


def test_a_second_builder_for_an_input_is_refused(monkeypatch):
    monkeypatch.setattr(base, "_BUILDERS", dict(base._BUILDERS))
    kept = base._BUILDERS["input_ids"]
    with pytest.raises(ValueError, match="'input_ids' already has a builder"):
        builds("fresh_input", "input_ids")(lambda ctx: None)
    assert base._BUILDERS["input_ids"] is kept and not has_builder("fresh_input")  # all or nothing
    builds("fresh_input")(lambda ctx: None)
    with pytest.raises(ValueError, match="'fresh_input' already has a builder"):
        builds("fresh_input")(lambda ctx: None)


def test_registering_needs_a_name():
    with pytest.raises(ValueError):
        builds()


# ---- check_finite ----


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_output_raises(bad):
    with pytest.raises(NonFiniteOutput, match="^model output holds NaN or inf$"):
        check_finite({"logits": torch.tensor([[0.0, bad]]), "hidden": torch.zeros(2)})
    with pytest.raises(NonFiniteOutput):
        check_finite((torch.tensor([bad], dtype=torch.bfloat16),))


def test_a_finite_output_passes():
    check_finite(torch.ones(3))
    check_finite({"logits": torch.zeros(1, 4), "past": [torch.tensor([float("nan")])]})  # only the first tensor
    check_finite({})  # no tensor at all


def test_integer_outputs_are_not_checked():
    check_finite(torch.tensor([1, 2, 3]))
    check_finite((torch.tensor([0]), torch.tensor([float("nan")])))  # the first tensor is integral


def test_non_finite_output_has_its_reason_code():
    assert reason_code(NonFiniteOutput("x")) == ReasonCode.NON_FINITE_OUTPUT


# ---- the runtime version that keys stored check outcomes ----


def test_runtime_version_follows_every_runtime_module(tmp_path):
    real = checks._runtime_version()
    package = tmp_path / "skillsets"
    shutil.copytree(
        checks.Path(checks.__file__).parent / "runtime",
        package / "runtime",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(checks.__file__, package / "checks.py")
    assert checks._runtime_version(package) == real  # the same files at the same relative paths
    versions = {real}

    def changed() -> str:
        checks._runtime_version.cache_clear()
        version = checks._runtime_version(package)
        assert version not in versions
        versions.add(version)
        return version

    vision = package / "runtime" / "inputs" / "vision.py"
    vision.write_bytes(vision.read_bytes() + b"\n")
    changed()
    (package / "runtime" / "inputs" / "extra.py").write_text("")  # a new module, even an empty one
    changed()
    vision.rename(vision.with_name("pictures.py"))  # the same bytes under another name
    changed()
    checks._runtime_version.cache_clear()
