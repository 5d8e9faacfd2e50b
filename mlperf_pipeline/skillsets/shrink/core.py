"""Shrink one config dict: every field by the value rules, then the consistency passes in order.

Nested sub-configs (text/vision/audio, encoder/decoder) are shrunk the same way, recursively,
before the passes of the config that holds them run.
"""

from __future__ import annotations

from typing import Any

from mlperf_pipeline.skillsets.shrink import passes  # noqa: F401  (importing it registers the passes)
from mlperf_pipeline.skillsets.shrink.registry import PASSES
from mlperf_pipeline.skillsets.shrink.values import shrink_value

# The order matters: a pass sees what the passes before it changed (the layer count before the
# per-layer lists, the vocabulary before the token ids, the towers' widths before the
# projections between them). A test pins it; a new pass is added here, where it must run.
PASS_ORDER: tuple[str, ...] = (
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

# Base-config bookkeeping that every config carries with the same defaults: left out of nested
# sub-configs so a generated skillset shows only what matters.
BASE_CONFIG_NOISE = frozenset(
    {
        "_name_or_path",
        "architectures",
        "dtype",
        "id2label",
        "label2id",
        "return_dict",
        "output_attentions",
        "output_hidden_states",
        "chunk_size_feed_forward",
        "problem_type",
        "transformers_version",
    }
)


def _check_registry() -> None:
    unordered, unknown = set(PASSES) - set(PASS_ORDER), set(PASS_ORDER) - set(PASSES)
    if unordered or unknown or len(set(PASS_ORDER)) != len(PASS_ORDER):
        raise RuntimeError(
            f"shrink passes and PASS_ORDER disagree: registered but not ordered {sorted(unordered)}, "
            f"ordered but not registered {sorted(unknown)}"
        )


_check_registry()


def shrink_config_dict(config: dict) -> dict:
    """The whole config with tiny values (nested sub-configs shrunk too)."""
    config = _declared_sub_configs(config)
    shrunk = {name: _shrink_field(name, value) for name, value in config.items()}
    for name in PASS_ORDER:
        PASSES[name](config, shrunk)
    return shrunk


def _shrink_field(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "model_type" in value:
        nested = shrink_config_dict(value)
        return {key: item for key, item in nested.items() if key not in BASE_CONFIG_NOISE}
    return shrink_value(name, value)


def _declared_sub_configs(config: dict) -> dict:
    """Some config classes declare one sub-config type (`sub_configs_defaults`) but build another
    by default: a timm backbone (DETR, which needs the absent timm) or an older backbone whose
    channels the neck does not expect. Use the declared type, with its declared settings."""
    from transformers import CONFIG_MAPPING

    try:
        declared = getattr(CONFIG_MAPPING[config.get("model_type")], "sub_configs_defaults", None) or {}
    except (KeyError, TypeError):
        return config
    replaced = None
    for name, spec in declared.items():
        current, wanted = config.get(name), getattr(spec, "model_type", None)
        if (
            not isinstance(current, dict)
            or not wanted
            or current.get("model_type") in (None, wanted)
            or wanted not in CONFIG_MAPPING
        ):
            continue
        try:
            sub = CONFIG_MAPPING[wanted](**(getattr(spec, "init_kwargs", None) or {})).to_dict()
        except Exception:
            continue
        replaced = replaced or dict(config)
        replaced[name] = sub
        if current.get("model_type") == "timm_backbone" and replaced.get("apply_layernorm_after_vision_backbone"):
            # That norm expects timm's channels-last feature maps; library backbones give channels first.
            replaced["apply_layernorm_after_vision_backbone"] = False
    return replaced or config
