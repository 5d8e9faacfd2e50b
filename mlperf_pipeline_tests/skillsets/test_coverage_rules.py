"""The shrink rules and input builders on real tiny models of the trickiest families (no mocks)."""

import pytest
import torch

from mlperf_pipeline.skillsets.runtime import NonFiniteOutput, UnsupportedInputs, reason_code
from mlperf_pipeline.skillsets.shrink import TINY_VOCAB, tiny_overrides

from mlperf_pipeline_tests.skillsets.tiny import run_tiny


def test_vlm_gets_one_image_token_per_image_feature():
    spec, model, inputs = run_tiny("llava")
    image_tokens = (inputs["input_ids"] == model.config.image_token_id).sum().item()
    with torch.no_grad():
        features = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
    assert image_tokens == sum(f.numel() // f.shape[-1] for f in features) > 0
    # The image placeholder id was moved inside the small vocabulary.
    assert model.config.image_token_id < model.config.text_config.vocab_size == TINY_VOCAB


def test_patch_grid_vlm_gets_flat_patches_grid_and_multimodal_rope_sections():
    spec, model, inputs = run_tiny("qwen2_vl")
    assert inputs["pixel_values"].dim() == 2 and inputs["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert inputs["mm_token_type_ids"].sum().item() == (inputs["input_ids"] == model.config.image_token_id).sum().item()
    text = model.config.text_config
    assert sum(text.rope_parameters["mrope_section"]) == text.hidden_size // text.num_attention_heads // 2


@pytest.mark.slow
def test_speech_features_are_square_so_either_layout_fits():
    for model_type in ("speech_to_text", "canary"):
        _, _, inputs = run_tiny(model_type)
        features = inputs["input_features"]
        assert features.shape[1] == features.shape[2]


@pytest.mark.slow
def test_video_model_gets_frames_shrunk_and_five_dimensional_pixels():
    spec, model, inputs = run_tiny("videomae")
    assert spec.tiny_overrides["num_frames"] == 4
    assert inputs["pixel_values"].shape[:2] == (1, 4)


def test_moe_with_latent_attention_keeps_its_invariants():
    spec, model, _ = run_tiny("deepseek_v3")
    config = model.config
    assert config.n_routed_experts <= 4 and config.n_group == 1 and config.topk_group == 1
    # MLA has no grouped-query attention and its head_dim is the rotary part.
    assert config.num_key_value_heads == config.num_attention_heads
    assert config.head_dim == config.qk_rope_head_dim


def test_hybrid_state_space_model_keeps_an_attention_layer():
    spec, model, _ = run_tiny("qwen3_next")
    assert set(model.config.layer_types) == {"linear_attention", "full_attention"}
    assert len(model.config.layer_types) == model.config.num_hidden_layers
    run_tiny("jamba")


@pytest.mark.slow
def test_detection_and_depth_models_name_backbone_stages_that_exist():
    spec, model, _ = run_tiny("depth_anything")
    backbone = model.config.backbone_config
    assert set(backbone.out_features) <= set(backbone.stage_names)
    assert len(backbone.out_features) == 4
    run_tiny("mask2former")


def test_per_layer_lists_and_index_maps_follow_the_kept_layers():
    default = {
        "model_type": "toy",
        "num_hidden_layers": 6,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "layer_types": ["sliding", "sliding", "sliding", "full", "sliding", "full"],
        "per_layer_config": {"3": {"width": 1}, "5": {"width": 2}},
        "kv_source_layers": [0, 1, 2, 3, 4, 5],
    }
    overrides = tiny_overrides(default)
    assert overrides["num_hidden_layers"] == 3  # two first layers plus the first `full` one
    assert overrides["layer_types"] == ["sliding", "sliding", "full"]
    assert overrides["per_layer_config"] == {"2": {"width": 1}}
    assert overrides["kv_source_layers"] == [0, 1, 3]


def test_special_token_ids_move_inside_the_small_vocabulary_and_stay_distinct():
    default = {
        "model_type": "toy",
        "vocab_size": 262208,
        "image_token_index": 262144,
        "boi_token_index": 255999,
        "pad_token_id": 0,
    }
    overrides = tiny_overrides(default)
    assert overrides["vocab_size"] == TINY_VOCAB
    moved = {overrides["image_token_index"], overrides["boi_token_index"]}
    assert len(moved) == 2 and max(moved) < TINY_VOCAB
    assert "pad_token_id" not in overrides


def _raise(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_reason_codes_classify_build_and_forward_failures():
    from transformers import AutoConfig

    assert reason_code(ImportError("DetrModel requires the timm library but it was not found")) == "missing_dependency"
    assert reason_code(ValueError("TvpModel requires the torchvision library")) == "missing_dependency"
    assert reason_code(UnsupportedInputs("needs 'states'")) == "unsupported_inputs"
    assert reason_code(NonFiniteOutput("NaN")) == "non_finite_output"
    assert reason_code(MemoryError()) == "too_large"
    assert reason_code(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) == "library_error"
    with pytest.raises(Exception) as raised:  # a config that refuses its own values
        AutoConfig.for_model("gemma3_text", num_hidden_layers=2, layer_types=["full_attention"] * 26)
    assert reason_code(raised.value) == "invalid_config"
