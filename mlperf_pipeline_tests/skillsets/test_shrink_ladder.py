"""The milder-shrink ladder and the config-derived rules added for the remaining families (no mocks)."""

import pytest
import torch

from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.skillsets.checks import check_info
from mlperf_pipeline.skillsets.generate import spec_for
from mlperf_pipeline.skillsets.runtime import SkillsetInfo, build_model, first_tensor, is_finite, make_inputs
from mlperf_pipeline.skillsets.shrink import MAX_TINY_PARAMS, overrides_at, tiny_overrides
from mlperf_pipeline.skillsets.shrink.fields import TINY_PREDICTION_LENGTH


def _default(model_type: str) -> dict:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type).to_dict()


def _forward(model_type: str, overrides: dict, seq_len: int = 32):
    entry = entry_for(model_type)
    info = SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, overrides)
    model = build_model(info, "tiny")
    inputs = make_inputs(model, info, batch_size=1, seq_len=seq_len)
    with torch.inference_mode():
        output = model(**inputs)
    assert first_tensor(output) is not None and is_finite(output)
    return model, inputs


def _check(entry, overrides: dict) -> str | None:
    """The smoke check's reason code for these overrides (None: it builds, runs and stays finite)."""
    info = SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, overrides)
    return check_info(info, MAX_TINY_PARAMS)["reason_code"]


def test_milder_rungs_keep_widths_but_still_cut_layers():
    default = {
        "model_type": "toy",
        "num_hidden_layers": 12,
        "hidden_size": 768,
        "hidden_sizes": [64, 128],
        "depths": [3, 4],
    }
    harsh = overrides_at(default, 0)
    keep_stages = overrides_at(default, 1)
    keep_widths = overrides_at(default, 2)
    assert harsh["hidden_size"] == 64 and harsh["hidden_sizes"] == [32, 64]
    assert "hidden_sizes" not in keep_stages and keep_stages["hidden_size"] == 64
    assert "hidden_size" not in keep_widths and keep_widths["depths"] == [1, 1]


def test_tiny_overrides_are_the_fullest_shrink_of_any_config():
    default = {"model_type": "toy", "num_hidden_layers": 12, "hidden_size": 768}
    assert tiny_overrides(default) == overrides_at(default, 0) == {"num_hidden_layers": 2, "hidden_size": 64}


@pytest.mark.slow
def test_ladder_recovers_a_detector_whose_neck_follows_backbone_widths():
    default = _default("d_fine")
    harsh = tiny_overrides(default)
    assert _check(entry_for("d_fine"), harsh) is not None  # the full shrink breaks the neck
    chosen = spec_for("d_fine").tiny_overrides  # the pipeline's ladder walk
    assert chosen != harsh and _check(entry_for("d_fine"), chosen) is None


def test_ssm_heads_follow_expand_times_width():
    overrides = tiny_overrides(_default("mamba2"))
    assert overrides["num_heads"] * overrides.get("head_dim", 64) == overrides["hidden_size"] * 2
    _forward("mamba2", overrides)


def test_lag_based_forecasters_get_a_horizon_and_series_inputs():
    overrides = tiny_overrides(_default("informer"))
    assert overrides["prediction_length"] == TINY_PREDICTION_LENGTH
    model, inputs = _forward("informer", overrides)
    assert inputs["past_values"].shape[1] == model.config.context_length + max(model.config.lags_sequence)
    _, inputs = _forward("patchtst", tiny_overrides(_default("patchtst")))
    assert inputs["past_values"].shape == (1, 32, 1)


def test_pooled_image_tokens_divide_the_patch_grid():
    overrides = tiny_overrides(_default("gemma3"))
    vision = overrides["vision_config"]
    side = int(overrides["mm_tokens_per_image"] ** 0.5)
    assert (vision["image_size"] // vision["patch_size"]) % side == 0
    _forward("gemma3", overrides)


def test_naflex_towers_get_flat_patches_with_spatial_shapes():
    _, inputs = _forward("siglip2_vision_model", tiny_overrides(_default("siglip2_vision_model")))
    side = inputs["spatial_shapes"][0, 0].item()
    assert inputs["pixel_values"].shape[1] == side * side == inputs["pixel_attention_mask"].shape[1]


def test_unset_image_placeholder_gets_the_last_tiny_vocabulary_id():
    overrides = tiny_overrides(_default("blip-2"))
    assert overrides["image_token_index"] == overrides["text_config"]["vocab_size"] - 1
    _, inputs = _forward("blip-2", overrides)
    assert (inputs["input_ids"] == overrides["image_token_index"]).sum() >= 1


def test_trajectory_models_get_states_actions_returns_and_timesteps():
    _, inputs = _forward("decision_transformer", tiny_overrides(_default("decision_transformer")))
    assert {"states", "actions", "returns_to_go", "timesteps"} <= inputs.keys()


@pytest.mark.slow
def test_vision_tower_with_a_frame_count_gets_video_pixels():
    _, inputs = _forward(
        "xclip", spec_for("xclip").tiny_overrides
    )  # a milder rung: the harsh one breaks its prompt generator
    assert inputs["pixel_values"].dim() == 5
