"""Unit tests of the shrink package on hand-written config dicts: no model is built."""

import pytest

from mlperf_pipeline.skillsets.shrink import PASS_ORDER, core, shrink_config_dict
from mlperf_pipeline.skillsets.shrink.fields import (
    MILDNESS,
    TINY_EXPERTS,
    TINY_EXPERTS_PER_TOKEN,
    TINY_PREDICTION_LENGTH,
    TINY_VOCAB,
)
from mlperf_pipeline.skillsets.shrink.registry import PASSES, shrink_pass
from mlperf_pipeline.skillsets.shrink.values import shrink_value

# The order the passes run in. A pass sees what the passes before it changed, so a change here
# changes generated skillsets: move a pass only with the coverage sweep's before/after in hand.
EXPECTED_ORDER = (
    "shrink_vocab",
    "follow_kept_layers",
    "keep_heads_dividing_width",
    "keep_kv_heads_dividing_heads",
    "fit_rope_sections",
    "match_mla_head_dims",
    "fit_expert_groups",
    "fit_audio_frames",
    "limit_image_size",
    "fill_missing_head_sizes",
    "fit_pixel_shuffle",
    "fit_ssm_heads",
    "fill_forecast_horizon",
    "fit_pooled_image_tokens",
    "fill_image_placeholder",
    "fill_missing_experts",
    "fill_missing_vocab",
    "fill_missing_layer_types",
    "fill_rope_per_layer_type",
    "fill_indexer_sizes",
    "shrink_per_layer_overrides",
    "fit_dim_factors",
    "fit_mamba_heads",
    "follow_derived_aliases",
    "shrink_hash_vocab",
    "share_rope_theta_with_attention",
    "skip_cache_without_attention",
    "bound_attention_clipping",
    "follow_sibling_tower_widths",
    "follow_adapter_widths",
    "fill_per_class_lists",
    "fit_neck_in_channels",
    "fit_width_to_stage_widths",
    "fit_width_to_keypoint_descriptors",
    "fill_empty_scale_factors",
    "fit_final_blocks",
    "fit_patch_sized_sub_images",
    "fit_sub_layer_hooks",
    "fit_width_to_first_stage",
    "shrink_segmenter_images",
    "every_stage_for_concatenated_features",
    "limit_keypoints",
    "fit_depthwise_groups",
    "fit_concatenated_widths",
    "fit_projection_widths",
    "shrink_conv_autoencoder",
    "fit_concatenated_layer_width",
    "fit_vision_feature_layers",
    "fit_pixel_shuffle_projector",
    "fit_patch_to_query_map",
    "shrink_sibling_vocabs",
    "fit_vision_output_widths",
    "fill_mlp_layer_types",
    "fit_neck_to_encoder",
    "fill_experts_per_token",
    "fit_global_attention_layers",
    "fill_implicit_token_ids",
    "fill_unguarded_placeholder_ids",
    "fill_default_language",
)


def run_pass(name: str, original: dict, config: dict | None = None) -> dict:
    """Run one registered pass; `config` defaults to a copy of `original` (the tiny config)."""
    config = dict(original) if config is None else config
    PASSES[name](original, config)
    return config


def test_the_pass_order_is_pinned():
    assert PASS_ORDER == EXPECTED_ORDER


def test_a_registered_pass_missing_from_the_order_is_refused():
    @shrink_pass
    def a_pass_nobody_ordered(original, config):
        pass

    try:
        with pytest.raises(RuntimeError, match=r"registered but not ordered \['a_pass_nobody_ordered'\]"):
            core._check_registry()
    finally:
        del PASSES["a_pass_nobody_ordered"]
    core._check_registry()  # the real registry agrees with the order


def test_a_pass_cannot_be_registered_twice():
    def shrink_vocab(original, config):  # the same name as a registered pass
        pass

    with pytest.raises(ValueError, match="shrink_vocab.*registered twice"):
        shrink_pass(shrink_vocab)
    assert PASSES["shrink_vocab"] is not shrink_vocab


def test_value_rules_cap_integers_and_give_tiny_stages():
    assert shrink_value("hidden_size", 4096) == 64
    assert shrink_value("hidden_size", 32) == 32  # never grown
    assert shrink_value("num_hidden_layers", 48) == 2
    assert shrink_value("cross_hidden_size", 1024) == 64  # mirrors the width it attends to
    assert shrink_value("depths", [2, 2, 18, 2]) == [1, 1, 1, 1]
    assert shrink_value("hidden_sizes", [96, 192, 384, 768]) == [32, 64, 128, 256]
    assert shrink_value("use_cache", True) is True
    assert shrink_value("rope_theta", 10_000.0) == 10_000.0
    nested = {"a": [1]}
    assert shrink_value("extra", nested) == nested and shrink_value("extra", nested) is not nested


def test_milder_rungs_leave_widths_alone():
    token = MILDNESS.set(2)
    try:
        assert shrink_value("hidden_size", 4096) == 4096
        assert shrink_value("num_hidden_layers", 48) == 2
    finally:
        MILDNESS.reset(token)


def test_nested_sub_configs_are_shrunk_and_lose_base_config_noise():
    shrunk = shrink_config_dict(
        {
            "model_type": "toy",
            "text_config": {"model_type": "toy_text", "hidden_size": 4096, "_name_or_path": "x", "dtype": "float32"},
        }
    )
    assert shrunk["text_config"] == {"model_type": "toy_text", "hidden_size": 64}


def test_special_token_ids_move_to_the_top_of_the_tiny_vocabulary():
    original = {"vocab_size": 50_000, "bos_token_id": 49_998, "eos_token_id": 49_999, "pad_token_id": 0}
    config = run_pass("shrink_vocab", original)
    assert config["vocab_size"] == TINY_VOCAB
    assert (config["bos_token_id"], config["eos_token_id"]) == (TINY_VOCAB - 2, TINY_VOCAB - 1)
    assert config["pad_token_id"] == 0


def test_sibling_vocabularies_follow_the_shrunk_one():
    original = {"vocab_size": 50_000, "vocab_size_per_layer_input": 50_000}
    config = run_pass(
        "shrink_sibling_vocabs", original, {"vocab_size": TINY_VOCAB, "vocab_size_per_layer_input": 50_000}
    )
    assert config["vocab_size_per_layer_input"] == TINY_VOCAB


def test_layer_schedules_still_place_a_layer_of_each_kind():
    original = {"num_hidden_layers": 8, "attn_layer_period": 8, "attn_layer_offset": 4}
    config = run_pass("follow_kept_layers", original, {**original, "num_hidden_layers": 2})
    assert (config["num_hidden_layers"], config["attn_layer_period"], config["attn_layer_offset"]) == (2, 2, 1)


def test_global_attention_layers_fall_on_the_last_kept_layer():
    original = {"num_hidden_layers": 12, "global_attn_indexes": [2, 5, 8, 11]}
    config = run_pass("fit_global_attention_layers", original, {**original, "num_hidden_layers": 2})
    assert config["global_attn_indexes"] == [1]


def test_heads_that_do_not_divide_the_width_collapse_to_one():
    assert (
        run_pass("keep_heads_dividing_width", {"hidden_size": 64, "num_attention_heads": 3})["num_attention_heads"] == 1
    )
    assert (
        run_pass("keep_heads_dividing_width", {"hidden_size": 64, "num_attention_heads": 2})["num_attention_heads"] == 2
    )


def test_kv_heads_group_only_where_the_default_groups():
    equal = {"num_attention_heads": 32, "num_key_value_heads": 32}
    assert run_pass("keep_kv_heads_dividing_heads", equal, {"num_attention_heads": 2, "num_key_value_heads": 1}) == {
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
    }
    grouped = {"num_attention_heads": 32, "num_key_value_heads": 8}
    config = run_pass("keep_kv_heads_dividing_heads", grouped, {"num_attention_heads": 3, "num_key_value_heads": 2})
    assert config["num_key_value_heads"] == 1


def test_rotary_sections_add_up_to_half_the_tiny_head():
    config = run_pass(
        "fit_rope_sections", {"model_type": "toy", "head_dim": 32, "rope_parameters": {"mrope_section": [16, 24, 24]}}
    )
    assert config["rope_parameters"]["mrope_section"] == [6, 5, 5]
    assert sum(config["rope_parameters"]["mrope_section"]) == 32 // 2


def test_moe_defaults_left_unset_get_tiny_values_unless_moe_is_off():
    unset = {"num_experts": None, "num_experts_per_tok": None, "n_shared_experts": None}
    assert run_pass("fill_missing_experts", unset) == {
        "num_experts": TINY_EXPERTS,
        "num_experts_per_tok": TINY_EXPERTS_PER_TOKEN,
        "n_shared_experts": 1,
    }
    assert run_pass("fill_missing_experts", {**unset, "use_moe": False})["num_experts"] is None
    assert run_pass("fit_expert_groups", {"num_experts": 4, "n_group": 8, "topk_group": 4}) == {
        "num_experts": 4,
        "n_group": 1,
        "topk_group": 1,
    }


def test_state_space_heads_keep_expand_times_width():
    config = run_pass(
        "fit_ssm_heads", {"hidden_size": 64, "expand": 2, "head_dim": 16, "num_heads": 128, "n_groups": 3}
    )
    assert config["num_heads"] * 16 == 64 * 2 and config["n_groups"] == 1


def test_large_images_are_capped_unless_windows_or_a_mild_rung_need_them():
    encoder = {"image_size": 1540, "patch_size": 14, "num_hidden_layers": 2}
    assert run_pass("limit_image_size", encoder)["image_size"] == 14 * 32
    assert run_pass("limit_image_size", {**encoder, "window_size": 7})["image_size"] == 1540
    token = MILDNESS.set(3)
    try:
        assert run_pass("limit_image_size", encoder)["image_size"] == 1540
    finally:
        MILDNESS.reset(token)


def test_pixel_shuffle_factor_divides_the_patches_a_side():
    config = run_pass("fit_pixel_shuffle", {"scale_factor": 2, "vision_config": {"image_size": 42, "patch_size": 14}})
    assert config["vision_config"]["image_size"] == 56  # 4 patches a side, a multiple of 2


def test_audio_frames_match_the_mel_bins():
    assert run_pass("fit_audio_frames", {"num_mel_bins": 80, "max_source_positions": 64})["max_source_positions"] == 40


def test_forecasters_get_a_horizon():
    config = run_pass("fill_forecast_horizon", {"prediction_length": None, "lags_sequence": [1, 2, 3]})
    assert config["prediction_length"] == TINY_PREDICTION_LENGTH
    assert run_pass("fill_forecast_horizon", {"prediction_length": None})["prediction_length"] is None


def test_per_class_lists_get_one_entry_per_label():
    config = run_pass("fill_per_class_lists", {"num_labels": 3, "class_thresholds": None, "class_order": None})
    assert config["class_thresholds"] == [0.5, 0.5, 0.5] and config["class_order"] == [0, 1, 2]


def test_multilingual_models_get_a_default_language():
    config = run_pass("fill_default_language", {"default_language": None, "languages": ["en_XX", "de_DE"]})
    assert config["default_language"] == "en_XX"
    assert "default_language" not in run_pass("fill_default_language", {"languages": ["en_XX"]})
