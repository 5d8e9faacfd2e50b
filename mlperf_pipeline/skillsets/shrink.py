"""Shrink a library default config to a `tiny` one that builds and runs in seconds.

The rules act on field names shared across the library (layers, heads, widths, stage lists) and
recurse into nested sub-configs (text/vision/audio, encoder/decoder). After the plain shrink, a
few consistency passes restore the invariants configs check or models assume: per-layer lists
follow the kept layers, heads divide widths, rotary sections fit the head size, backbone stage
names exist. Only changed fields are returned, so a generated skillset shows exactly what
differs from the library default.
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from typing import Any

TINY_LAYERS = 2
TINY_HEADS = 2
TINY_KV_HEADS = 1
TINY_WIDTH = 64
TINY_FFN = 128
TINY_SOURCE_POSITIONS = 64
TINY_EXPERTS = 4
TINY_EXPERTS_PER_TOKEN = 2
TINY_VOCAB = 1024
TINY_LORA_RANK = 32
TINY_ROPE_HEAD_DIM = 16
MAX_PATCHES_PER_SIDE = 32
TINY_FRAMES = 4  # a multiple of the usual tubelet size (2)

_LAYER_FIELDS = {
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "n_layers",
    "encoder_layers",
    "decoder_layers",
    "num_encoder_layers",
    "num_decoder_layers",
    "num_hidden_groups_layers",
    "depth",
    "num_self_attends_per_block",
    "num_global_layers",
}
_HEAD_FIELDS = {
    "num_attention_heads",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "n_head",
    "n_heads",
    "num_heads",
    "num_self_attention_heads",
    "num_cross_attention_heads",
    "attention_heads",
}
_KV_HEAD_FIELDS = {"num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"}
_WIDTH_FIELDS = {
    "hidden_size",
    "d_model",
    "n_embd",
    "embed_dim",
    "dim",
    "embedding_size",
    "projection_size",
    "d_latents",
}
_FFN_FIELDS = {
    "intermediate_size",
    "ffn_dim",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "d_ff",
    "n_inner",
    "mlp_dim",
    "projection_dim",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "moe_shared_expert_intermediate_size",
}
_FRAME_FIELDS = {"num_frames", "frames_per_clip"}
_EXPERT_FIELDS = {"num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"}
_EXPERT_PER_TOKEN_FIELDS = {
    "num_experts_per_tok",
    "moe_topk",
    "top_k",
    "num_experts_per_token",
    "moe_k",
    "num_selected_experts",
}
# Multi-head latent attention (DeepSeek-style) ranks and rotary head sizes.
_LORA_RANK_FIELDS = {"kv_lora_rank", "q_lora_rank"}
_ROPE_HEAD_FIELDS = {"qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}
_STAGE_DEPTH_FIELDS = {"depths", "num_layers_per_stage", "stage_depths"}
_STAGE_WIDTH_FIELDS = {"hidden_sizes", "embed_dims", "dims", "embedding_dims"}
_STAGE_HEAD_FIELDS = {"num_heads", "num_attention_heads"}
_CONV_WIDTH_FIELDS = {"conv_dim"}
# Base width of SEANet-style codec convolutions, doubled at every downsampling stage.
_FILTER_FIELDS = {"num_filters"}
TINY_FILTERS = 8
# HiFi-GAN vocoders start upsampling at this width and halve it at every stage.
_VOCODER_WIDTH_FIELDS = {"upsample_initial_channel"}
# Projections between towers: they follow the (shrunk) widths of the towers they connect.
_TOWER_WIDTH_FIELDS = {
    "out_hidden_size",
    "text_hidden_size",
    "vision_hidden_size",
    "audio_hidden_size",
    "mm_hidden_size",
    "projector_hidden_size",
    "encoder_hidden_size",
    "condition_dim",
    "reassemble_hidden_size",
    "fpn_hidden_size",
    "backbone_hidden_size",
    "word_embed_proj_dim",
}
_MEL_FIELDS = ("num_mel_bins", "feature_size", "input_feat_per_channel", "n_mels", "mel_bins")
# Lists that name a type per layer (or a cycled pattern of them).
_LAYER_TYPE_FIELDS = ("layer_types", "block_types", "layers_block_type", "layer_type")


# How mild the shrink is: 0 shrinks everything; 1 keeps per-stage width lists (necks and heads
# often repeat them); 2 keeps every width (layers, heads, experts and vocabulary still shrink);
# 3 cuts only layers, stage depths and the vocabulary. `tiny_overrides` climbs this ladder when a
# harsher shrink leaves a model that cannot build or run.
MILDNESS_LEVELS = (0, 1, 2, 3)
# A context variable rather than a parameter threaded through every rule: the rules stay one-line
# lookups, and concurrent shrinks (threads, async) cannot see each other's rung.
_MILDNESS: ContextVar[int] = ContextVar("mildness", default=0)
# Beside the ladder, a last variant keeps the default head counts and shrinks everything else:
# some attention code hardcodes how heads are grouped (CodeGen splits them over 4 model-parallel
# shards), so fewer heads than the default break it. Tried only when no rung works.
_KEEP_HEADS: ContextVar[bool] = ContextVar("keep_heads", default=False)
_SCALAR_WIDTHS = (
    _WIDTH_FIELDS
    | _TOWER_WIDTH_FIELDS
    | _FFN_FIELDS
    | _LORA_RANK_FIELDS
    | _ROPE_HEAD_FIELDS
    | {"head_dim"}
    | _FILTER_FIELDS
    | _VOCODER_WIDTH_FIELDS
)


def _skipped_by_mildness(name: str) -> bool:
    _mildness = _MILDNESS.get()
    if _mildness >= 1 and name in _STAGE_WIDTH_FIELDS | _CONV_WIDTH_FIELDS:
        return True
    if _mildness >= 2 and name in _SCALAR_WIDTHS:
        return True
    return _mildness >= 3 and name not in (_LAYER_FIELDS | _STAGE_DEPTH_FIELDS)


# Field groups and the largest value each keeps at tiny size; the first group that names a field wins.
_INT_CAPS = (
    (_LAYER_FIELDS, TINY_LAYERS),
    (_HEAD_FIELDS, TINY_HEADS),
    (_KV_HEAD_FIELDS, TINY_KV_HEADS),
    (_WIDTH_FIELDS | _TOWER_WIDTH_FIELDS, TINY_WIDTH),
    (_FFN_FIELDS, TINY_FFN),
    ({"head_dim"}, TINY_WIDTH // TINY_HEADS),
    ({"max_source_positions"}, TINY_SOURCE_POSITIONS),
    (_FRAME_FIELDS, TINY_FRAMES),
    (_EXPERT_FIELDS, TINY_EXPERTS),
    (_EXPERT_PER_TOKEN_FIELDS, TINY_EXPERTS_PER_TOKEN),
    (_LORA_RANK_FIELDS, TINY_LORA_RANK),
    (_ROPE_HEAD_FIELDS, TINY_ROPE_HEAD_DIM),
    (_FILTER_FIELDS, TINY_FILTERS),
    (_VOCODER_WIDTH_FIELDS, TINY_WIDTH),
)


def _shrink_int(name: str, value: int) -> int:
    name = name.removeprefix("cross_")  # cross-attention sizes (Dia's `cross_hidden_size`) mirror the encoder's
    if _skipped_by_mildness(name) or _KEEP_HEADS.get() and name in _HEAD_FIELDS | _KV_HEAD_FIELDS:
        return value
    cap = next((cap for fields, cap in _INT_CAPS if name in fields), None)
    return value if cap is None else min(value, cap)


def _is_int_list(values) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, int) and not isinstance(value, bool) for value in values)
    )


def _shrink_list(name: str, values: list) -> list:
    if not _is_int_list(values) or _skipped_by_mildness(name):
        return values
    if name in _STAGE_DEPTH_FIELDS:
        return [1 for _ in values]
    if name in _STAGE_WIDTH_FIELDS:
        # Multiples of 32 so that group norms with 32 groups still divide every stage.
        return [32 * 2**stage for stage in range(len(values))]
    if name in _STAGE_HEAD_FIELDS:
        return [2**stage for stage in range(len(values))]
    if name in _CONV_WIDTH_FIELDS:
        return [32 for _ in values]
    if "key_value_heads" in name:  # per-layer kv-head counts (Sapiens2)
        return [min(value, TINY_KV_HEADS) for value in values]
    return values


def _shrink_value(name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _shrink_int(name, value)
    if isinstance(value, list):
        return _shrink_list(name, value)
    if isinstance(value, dict) and "model_type" in value:
        nested = shrink_config_dict(value)
        return {key: item for key, item in nested.items() if key not in _BASE_CONFIG_NOISE}
    if isinstance(value, (dict, list)):
        return copy.deepcopy(value)  # consistency passes edit it; the default must stay intact
    return value


# Base-config bookkeeping that every config carries with the same defaults: left out of nested
# sub-configs so a generated skillset shows only what matters.
_BASE_CONFIG_NOISE = {
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


def shrink_config_dict(config: dict) -> dict:
    """The whole config with tiny values (nested sub-configs shrunk too)."""
    config = _declared_sub_configs(config)
    shrunk = {name: _shrink_value(name, value) for name, value in config.items()}
    _shrink_vocab(config, shrunk)
    _follow_kept_layers(config, shrunk)
    _keep_heads_dividing_width(shrunk)
    _keep_kv_heads_dividing_heads(config, shrunk)
    _fit_rope_sections(shrunk)
    _match_mla_head_dims(config, shrunk)
    _fit_expert_groups(shrunk)
    _fit_audio_frames(shrunk)
    _limit_image_size(shrunk)
    _fill_missing_head_sizes(shrunk)
    _fit_pixel_shuffle(shrunk)
    _fit_ssm_heads(shrunk)
    _fill_forecast_horizon(shrunk)
    _fit_pooled_image_tokens(config, shrunk)
    _fill_image_placeholder(shrunk)
    _fill_missing_experts(shrunk)
    _fill_missing_vocab(shrunk)
    _fill_missing_layer_types(shrunk)
    _fill_rope_per_layer_type(shrunk)
    _fill_indexer_sizes(shrunk)
    _shrink_per_layer_overrides(shrunk)
    _fit_dim_factors(config, shrunk)
    _fit_mamba_heads(shrunk)
    _follow_derived_aliases(config, shrunk)
    _shrink_hash_vocab(shrunk)
    _share_rope_theta_with_attention(shrunk)
    _skip_cache_without_attention(config, shrunk)
    _bound_attention_clipping(shrunk)
    _follow_sibling_tower_widths(shrunk)
    _follow_adapter_widths(config, shrunk)
    _fill_per_class_lists(shrunk)
    _fit_neck_in_channels(shrunk)
    _fit_width_to_stage_widths(config, shrunk)
    _fit_width_to_keypoint_descriptors(shrunk)
    _fill_empty_scale_factors(shrunk)
    _fit_final_blocks(config, shrunk)
    _fit_patch_sized_sub_images(shrunk)
    _fit_sub_layer_hooks(shrunk)
    _fit_width_to_first_stage(config, shrunk)
    _shrink_segmenter_images(config, shrunk)
    _every_stage_for_concatenated_features(shrunk)
    _limit_keypoints(shrunk)
    _fit_depthwise_groups(config, shrunk)
    _fit_concatenated_widths(config, shrunk)
    _fit_projection_widths(config, shrunk)
    _shrink_conv_autoencoder(shrunk)
    _fit_concatenated_layer_width(config, shrunk)
    _fit_vision_feature_layers(shrunk)
    _fit_pixel_shuffle_projector(shrunk)
    _fit_patch_to_query_map(config, shrunk)
    _shrink_sibling_vocabs(config, shrunk)
    _fit_vision_output_widths(config, shrunk)
    _fill_mlp_layer_types(shrunk)
    _fit_neck_to_encoder(shrunk)
    _fill_experts_per_token(shrunk)
    _fit_global_attention_layers(config, shrunk)
    _fill_implicit_token_ids(shrunk)
    _fill_unguarded_placeholder_ids(shrunk)
    if shrunk.get("default_language", 0) is None and shrunk.get("languages"):
        shrunk["default_language"] = shrunk["languages"][0]  # X-MOD routes every input through one language adapter
    return shrunk


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


# Per-level input widths of a neck fed by the backbone's feature maps, one per `out_features`.
_NECK_IN_CHANNEL_FIELDS = ("encoder_in_channels", "layer_list_out_channels")


def _fit_neck_in_channels(config: dict) -> None:
    """A neck's per-level input widths must be the channels the (shrunk) backbone really gives:
    ask the backbone itself, built on the meta device (stage widths may be set by several lists)."""
    backbone = config.get("backbone_config")
    fields = [name for name in _NECK_IN_CHANNEL_FIELDS if _is_int_list(config.get(name))]
    if not fields or not isinstance(backbone, dict) or not backbone.get("out_features"):
        return
    channels = _backbone_channels(backbone)
    for name in fields:
        if channels and len(config[name]) == len(channels):
            config[name] = list(channels)


def _backbone_channels(backbone: dict) -> list[int] | None:
    import torch
    from transformers import CONFIG_MAPPING, AutoBackbone

    try:
        settings = {name: value for name, value in backbone.items() if name != "model_type"}
        backbone_config = CONFIG_MAPPING[backbone["model_type"]](**settings)
        with torch.device("meta"):
            channels = AutoBackbone.from_config(backbone_config).channels
    except Exception:
        return None
    return [int(channel) for channel in channels] if channels else None


def _fit_width_to_stage_widths(original: dict, config: dict) -> None:
    """Where `out_features` lists stage widths (EfficientLoFTR) rather than stage names and the
    default width is the last of them, the width keeps following it."""
    widths, original_widths = config.get("out_features"), original.get("out_features")
    if (
        not _is_int_list(widths)
        or not _is_int_list(original_widths)
        or original.get("hidden_size") != original_widths[-1]
    ):
        return
    config["hidden_size"] = widths[-1]


def _fit_width_to_keypoint_descriptors(config: dict) -> None:
    """A keypoint matcher (SuperGlue) attends over its detector's descriptors: same width."""
    detector = config.get("keypoint_detector_config")
    descriptors = detector.get("descriptor_decoder_dim") if isinstance(detector, dict) else None
    if isinstance(descriptors, int) and isinstance(config.get("hidden_size"), int):
        config["hidden_size"] = descriptors


def _fill_empty_scale_factors(config: dict) -> None:
    """A feature pyramid given by `*_scale_factors` that defaults empty (LW-DETR) has no feature
    level at all: one level at the backbone's own scale."""
    for name, value in list(config.items()):
        if name.endswith("_scale_factors") and isinstance(value, (list, tuple)) and not value:
            config[name] = [1.0]


def _fit_final_blocks(original: dict, config: dict) -> None:
    """EoMT-style `num_blocks` counts the last layers (where queries join): fewer than the layers
    by default, so it must stay below the kept layers too."""
    blocks, layers = original.get("num_blocks"), original.get("num_hidden_layers")
    kept = config.get("num_hidden_layers")
    if (
        all(isinstance(value, int) and not isinstance(value, bool) for value in (blocks, layers, kept))
        and blocks < layers
        and blocks >= kept
    ):
        config["num_blocks"] = max(1, kept - 1)


SUB_IMAGE_PATCHES_PER_SIDE = 4


def _fit_patch_sized_sub_images(config: dict) -> None:
    """DepthPro feeds its sub-encoders whole patches of the parent's `patch_size` pixels (their
    `image_size`): make those patches 4 × 4 of the encoders' own patches, so a 224 px image at the
    smallest scale still holds one."""
    patch = config.get("patch_size")
    subs = [
        value
        for value in config.values()
        if isinstance(value, dict) and "model_type" in value and value.get("image_size") == patch
    ]
    own = {sub.get("patch_size") for sub in subs if isinstance(sub.get("patch_size"), int)}
    if (
        not isinstance(patch, int)
        or isinstance(patch, bool)
        or not subs
        or len(own) != 1
        or len(subs) != sum(isinstance(sub.get("patch_size"), int) for sub in subs)
    ):
        return
    size = next(iter(own)) * SUB_IMAGE_PATCHES_PER_SIDE
    if size < patch:
        config["patch_size"] = size
        for sub in subs:
            sub["image_size"] = size


def _fit_sub_layer_hooks(config: dict) -> None:
    """Hooks a parent sets on a sub-encoder's layers (`intermediate_hook_ids`) must name layers
    the shrunk sub-encoder still has."""
    layers = [sub.get("num_hidden_layers") for sub in config.values() if isinstance(sub, dict) and "model_type" in sub]
    layers = [count for count in layers if isinstance(count, int) and count > 0]
    if not layers:
        return
    for name, value in list(config.items()):
        if name.endswith("_hook_ids") and _is_int_list(value) and max(value) >= min(layers):
            # Deepest hook on the last kept layer, the next one below it, and so on (order kept).
            rank = {index: place for place, index in enumerate(sorted(set(value), reverse=True))}
            config[name] = [max(0, min(layers) - 1 - rank[index]) for index in value]


def _fit_width_to_first_stage(original: dict, config: dict) -> None:
    """A width that equals the first stage's width by default (Hiera's `hidden_size` and
    `embed_dim_per_stage[0]`) keeps doing so: the stem feeds the first stage."""
    stages = [
        name
        for name, value in original.items()
        if name.endswith("_per_stage") and "dim" in name and _is_int_list(value)
    ]
    for stage_field in stages:
        for name in _WIDTH_FIELDS & original.keys():
            if original[name] == original[stage_field][0] and _is_int_list(config.get(stage_field)):
                config[name] = config[stage_field][0]


SEGMENTER_IMAGE_DIVISOR = 4


def _shrink_segmenter_images(original: dict, config: dict) -> None:
    """SAM-style vision configs fix the feature map sizes (`backbone_feature_sizes`) that their
    backbone's image size gives: divide both by 4 (a 1024 px image takes seconds even when tiny),
    and the prompt encoder beside them follows the new image size."""
    if _MILDNESS.get() >= 3:
        return
    sizes, backbone = config.get("backbone_feature_sizes"), config.get("backbone_config")
    if isinstance(sizes, list) and sizes and all(_is_int_list(size) for size in sizes) and isinstance(backbone, dict):
        image = backbone.get("image_size")
        divisor = SEGMENTER_IMAGE_DIVISOR
        if all(size % divisor == 0 for pair in sizes for size in pair) and (
            isinstance(image, int) or _is_int_list(image)
        ):
            config["backbone_feature_sizes"] = [[size // divisor for size in pair] for pair in sizes]
            backbone["image_size"] = image // divisor if isinstance(image, int) else [side // divisor for side in image]
    vision, before = config.get("vision_config"), original.get("vision_config")
    if (
        not isinstance(vision, dict)
        or not isinstance(before, dict)
        or not isinstance(vision.get("backbone_config"), dict)
    ):
        return
    old_size = (before.get("backbone_config") or {}).get("image_size")
    new_size = vision["backbone_config"].get("image_size")
    old_side = old_size[0] if _is_int_list(old_size) else old_size
    new_side = new_size[0] if _is_int_list(new_size) else new_size
    for sub in config.values():
        if (
            isinstance(sub, dict)
            and sub is not vision
            and sub.get("image_size") == old_side
            and isinstance(new_side, int)
        ):
            sub["image_size"] = new_side


def _every_stage_for_concatenated_features(config: dict) -> None:
    """A model that concatenates all of its backbone's feature maps (UVDoc) is sized for one per
    stage, while the backbone default gives only the last: ask for every stage."""
    backbone = config.get("backbone_config")
    if (
        not isinstance(backbone, dict)
        or not isinstance(backbone.get("stage_names"), list)
        or not backbone.get("out_features")
    ):
        return
    if "torch.cat(backbone_outputs.feature_maps" not in _modeling_source_of_type(config.get("model_type")):
        return
    stages = [name for name in backbone["stage_names"] if name != "stem"]
    backbone["out_features"] = stages
    if backbone.get("out_indices"):
        backbone["out_indices"] = [backbone["stage_names"].index(name) for name in stages]


TINY_KEYPOINTS = 64


def _limit_keypoints(config: dict) -> None:
    """Keypoint detectors (SuperPoint) keep every keypoint by default (-1): a thousand per image,
    which the matchers then attend over. Keep the best 64."""
    if _MILDNESS.get() >= 3:
        return
    value = config.get("max_keypoints")
    if isinstance(value, int) and not isinstance(value, bool) and (value < 0 or value > TINY_KEYPOINTS):
        config["max_keypoints"] = TINY_KEYPOINTS


def _fill_per_class_lists(config: dict) -> None:
    """Detection heads that index a per-class list (`class_thresholds`, `class_order`) by the
    predicted class leave it None by default: one entry per label."""
    labels = len(config.get("id2label") or {}) or config.get("num_labels")
    if not isinstance(labels, int) or labels < 1:
        return
    if "class_thresholds" in config and config["class_thresholds"] is None:
        config["class_thresholds"] = [0.5] * labels
    if "class_order" in config and config["class_order"] is None:
        config["class_order"] = list(range(labels))


def _fit_depthwise_groups(original: dict, config: dict) -> None:
    """Depthwise convolutions set their `*_groups` to the width they convolve (Mimi's upsampling,
    512 groups for 512 channels): when that width shrinks, the groups follow it."""
    widths = {
        original[name]: config.get(name)
        for name in _WIDTH_FIELDS & original.keys()
        if isinstance(original[name], int) and isinstance(config.get(name), int) and config[name] != original[name]
    }
    for name, value in original.items():
        if (
            name.endswith("_groups")
            and isinstance(value, int)
            and not isinstance(value, bool)
            and value > 1
            and value in widths
        ):
            config[name] = widths[value]


def _fit_concatenated_widths(original: dict, config: dict) -> None:
    """A `*_dim` that the default sets to its own width plus a sub-config's width (XCodec2 quantizes
    the acoustic and semantic features concatenated) follows both shrunk widths."""
    width, tiny_width = original.get("hidden_size"), config.get("hidden_size")
    if not isinstance(width, int) or not isinstance(tiny_width, int) or width == tiny_width:
        return
    for sub_name, sub in original.items():
        tiny_sub = config.get(sub_name)
        if not (
            isinstance(sub, dict)
            and isinstance(tiny_sub, dict)
            and isinstance(sub.get("hidden_size"), int)
            and isinstance(tiny_sub.get("hidden_size"), int)
        ):
            continue
        for name, value in original.items():
            if (
                "dim" in name
                and isinstance(value, int)
                and not isinstance(value, bool)
                and config.get(name) == value == width + sub["hidden_size"]
            ):
                config[name] = tiny_width + tiny_sub["hidden_size"]


_TEXT_CONFIG_NAMES = ("text_config", "decoder", "language_config", "llm_config", "decoder_config")
_TOWER_WIDTH_NAMES = ("hidden_size", "d_model", "hidden_dim", "embed_dim")


def _tower_width(config) -> int | None:
    return _first_int(config, _TOWER_WIDTH_NAMES) if isinstance(config, dict) else None


def _fit_projection_widths(original: dict, config: dict) -> None:
    """A `projection_dim` that equals the text width in the default projects image features into
    the text model (PaliGemma, Florence-2): it follows the shrunk text width. A top-level one that
    equals no tower's width is fixed by the towers' design (ALIGN projects text onto the vision
    tower's output channels): it keeps its default. A vision tower's `projection_dim` in a model
    that splices image features into the text at placeholder tokens follows the text width too."""
    text_name = next((name for name in _TEXT_CONFIG_NAMES if isinstance(config.get(name), dict)), None)
    if text_name is None:
        return
    old_text, new_text = _tower_width(original.get(text_name)), _tower_width(config[text_name])
    if not old_text or not new_text:
        return
    towers = [original[name] for name, value in original.items() if isinstance(value, dict) and "model_type" in value]
    places = [(config, original)] + [
        (config[name], original[name])
        for name in config
        if name != text_name
        and isinstance(config[name], dict)
        and "model_type" in config[name]
        and isinstance(original.get(name), dict)
    ]
    for place, default in places:
        value = default.get("projection_dim")
        if not isinstance(value, int) or isinstance(value, bool) or "projection_dim" not in place:
            continue
        if value == old_text or (default is original.get("vision_config") and _has_image_placeholder(original)):
            place["projection_dim"] = new_text
        elif place is config and value not in {_tower_width(tower) for tower in towers}:
            place["projection_dim"] = value


TINY_BASE_CHANNELS = 32  # group norms with 32 groups still divide every stage


def _shrink_conv_autoencoder(config: dict) -> None:
    """VQ-GAN image tokenizers (Chameleon, Emu3, Janus) scale `base_channels` by a
    `channel_multiplier` per stage with `num_res_blocks` blocks each: they dominate tiny models."""
    if _MILDNESS.get() >= 2 or not _is_int_list(config.get("channel_multiplier")):
        return
    if isinstance(config.get("base_channels"), int) and config["base_channels"] > TINY_BASE_CHANNELS:
        config["base_channels"] = TINY_BASE_CHANNELS
    if isinstance(config.get("num_res_blocks"), int) and config["num_res_blocks"] > 1:
        config["num_res_blocks"] = 1


def _fit_concatenated_layer_width(original: dict, config: dict) -> None:
    """Towers that concatenate the states of chosen layers with the last one (Mllama's
    `intermediate_layers_indices`) output width × (layers chosen + 1): keep that product."""
    old_width, new_width = original.get("hidden_size"), config.get("hidden_size")
    for name, indices in original.items():
        if not _names_layer_indices(name) or not _is_int_list(indices) or not _is_int_list(config.get(name)):
            continue
        for field, value in original.items():
            if (
                field.endswith("output_dim")
                and isinstance(value, int)
                and isinstance(old_width, int)
                and value == old_width * (len(indices) + 1)
            ):
                config[field] = new_width * (len(config[name]) + 1)


def _fit_vision_feature_layers(config: dict) -> None:
    """`vision_feature_layer(s)` (here or in an adapter sub-config) pick layers of the vision tower
    by index: after the shrink they must index layers that still exist (VipLLaVA, Molmo2)."""
    vision = config.get("vision_config")
    layers = _first_int(vision, ("num_hidden_layers", "depth", "num_layers")) if isinstance(vision, dict) else None
    if not layers:
        return
    places = [config] + [value for name, value in config.items() if isinstance(value, dict) and name != "vision_config"]
    for place in places:
        for name in ("vision_feature_layer", "vision_feature_layers"):
            value = place.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                place[name] = max(-layers, min(value, layers - 1))
            elif _is_int_list(value):
                place[name] = [max(-layers, min(index, layers - 1)) for index in value]


def _fit_pixel_shuffle_projector(config: dict) -> None:
    """Llama4's vision adapter pixel-shuffles the patches (width / ratio² channels) into an MLP that
    maps `projector_input_dim` to `projector_output_dim` and hands `vision_output_dim` on: the
    library default breaks that chain, so tie each link to the tower width."""
    ratio, width = config.get("pixel_shuffle_ratio"), config.get("hidden_size")
    if (
        not isinstance(ratio, float)
        or not 0 < ratio < 1
        or not isinstance(width, int)
        or "projector_input_dim" not in config
    ):
        return
    config["intermediate_size"] = int(width / ratio**2)
    for name in ("projector_input_dim", "projector_output_dim", "vision_output_dim"):
        if name in config:
            config[name] = width


def _fit_patch_to_query_map(original: dict, config: dict) -> None:
    """Aria's projector looks its query count up by the image's patch count: the default map is
    keyed for the full-size tower, so the tower's own patch count gets the smallest query count."""
    mapping = config.get("projector_patch_to_query_dict")
    vision = config.get("vision_config") or original.get("vision_config")
    if not isinstance(mapping, dict) or not mapping or not isinstance(vision, dict):
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if not isinstance(size, int) or not isinstance(patch, int) or not patch:
        return
    patches = (size // patch) ** 2
    if patches not in {int(key) for key in mapping}:
        config["projector_patch_to_query_dict"] = {**mapping, patches: min(int(value) for value in mapping.values())}


def _shrink_sibling_vocabs(original: dict, config: dict) -> None:
    """Other tables sized by the vocabulary (Gemma-3n/4 per-layer input embeddings,
    `vocab_size_per_layer_input`) follow the shrunk vocabulary where they equal it by default."""
    old, new = original.get("vocab_size"), config.get("vocab_size")
    if not isinstance(old, int) or not isinstance(new, int) or new >= old:
        return
    for name, value in original.items():
        if name.startswith("vocab_size_") and value == old and config.get(name) == old:
            config[name] = new


def _fit_vision_output_widths(original: dict, config: dict) -> None:
    """Top-level `*hidden_size` fields that equal the vision width, or that width times the patches
    a merge folds together (Muse's `out_hidden_size`, Kimi-K2.5's `projection_hidden_size`), take
    the vision tower's output: they follow its shrunk width."""
    vision, shrunk_vision = original.get("vision_config"), config.get("vision_config")
    if not isinstance(vision, dict) or not isinstance(shrunk_vision, dict):
        return
    old, new = vision.get("hidden_size"), shrunk_vision.get("hidden_size")
    if not isinstance(old, int) or not isinstance(new, int) or old == new:
        return
    factors = {1}
    for name in ("merge_size", "spatial_merge_size"):
        if isinstance(vision.get(name), int):
            factors.add(vision[name] ** 2)
    if _is_int_list(vision.get("merge_kernel_size")):
        factors.add(vision["merge_kernel_size"][0] * vision["merge_kernel_size"][-1])
    for name, value in original.items():
        if not name.endswith("_hidden_size") or isinstance(value, bool) or not isinstance(value, int):
            continue
        factor = next((factor for factor in sorted(factors) if value == old * factor), None)
        if factor is not None:
            config[name] = new * factor


def _fill_mlp_layer_types(config: dict) -> None:
    """DeepSeek-style MoE configs that leave `mlp_layer_types` unset (DeepSeek-OCR-2's text model
    indexes it): dense for the first `first_k_dense_replace` layers, sparse after, as they mean."""
    layers = _first_int(config, ("num_hidden_layers", "num_layers"))
    if "mlp_layer_types" not in config or config["mlp_layer_types"] is not None or not layers:
        return
    dense = config.get("first_k_dense_replace") or 0
    experts = _first_int(config, sorted(_EXPERT_FIELDS))
    config["mlp_layer_types"] = ["dense" if index < dense or not experts else "sparse" for index in range(layers)]


def _fit_neck_to_encoder(config: dict) -> None:
    """DeepSeek-OCR-style vision stacks feed a SAM neck's last `downsample_channels` straight into
    the sibling `encoder_config` as its embeddings: that neck must end at the encoder's width."""
    encoder = config.get("encoder_config")
    width = _tower_width(encoder)
    if not width:
        return
    for name, sibling in config.items():
        if name != "encoder_config" and isinstance(sibling, dict) and _is_int_list(sibling.get("downsample_channels")):
            sibling["downsample_channels"] = [*sibling["downsample_channels"][:-1], width]


def _fill_experts_per_token(config: dict) -> None:
    """MoE defaults that leave the experts per token unset (DeepSeek-OCR-2's router takes top-k of it)."""
    experts = _first_int(config, sorted(_EXPERT_FIELDS))
    if experts and "num_experts_per_tok" in config and config["num_experts_per_tok"] is None:
        config["num_experts_per_tok"] = min(TINY_EXPERTS_PER_TOKEN, experts)


def _fit_global_attention_layers(original: dict, config: dict) -> None:
    """Windowed ViTs (SAM) name their global-attention layers in `global_attn_indexes`, and some
    models read those layers' states (DeepSeek-VL hybrid): the last kept layer becomes the global one."""
    field = _layer_count_field(config)
    indexes = original.get("global_attn_indexes")
    if field is None or not _is_int_list(indexes) or not isinstance(config.get(field), int):
        return
    layers = config[field]
    if any(index >= layers for index in indexes):
        config["global_attn_indexes"] = [layers - 1]


def _fill_implicit_token_ids(config: dict) -> None:
    """Token ids a model reads with a built-in default its config does not carry (ShieldGemma2's
    `getattr(config, "yes_token_index", 10_784)`) fall outside a tiny vocabulary: set them to free ids."""
    import re

    from transformers import CONFIG_MAPPING

    vocab = _text_vocab(config)
    if not isinstance(vocab, int) or config.get("model_type") not in CONFIG_MAPPING:
        return
    source = _modeling_source(CONFIG_MAPPING[config["model_type"]]) or ""
    implicit = {
        name: int(value)
        for name, value in re.findall(r'getattr\(config, "(\w+_token_(?:index|id))", ([\d_]+)\)', source)
    }
    wanted = [name for name, value in implicit.items() if value >= vocab and name not in config]
    if not wanted:
        return
    places = [config] + [
        config[name] for name in ("text_config", "decoder", "llm_config") if isinstance(config.get(name), dict)
    ]
    used = {value for place in places for name, value in place.items() if _is_token_id(name, value)}
    free = (candidate for candidate in range(vocab - 1, 0, -1) if candidate not in used)
    for name in wanted:
        config[name] = next(free)


_PLACEHOLDER_TOWERS = {
    "image_token_id": "vision_config",
    "video_token_id": "vision_config",
    "audio_token_id": "audio_config",
}


def _fill_unguarded_placeholder_ids(config: dict) -> None:
    """A default that leaves a placeholder id unset although its tower is there: models that read
    an unset id as "no such inputs" say so in code (`image_token_id is not None`, MiniCPM-V); the
    others (Nemotron-H Omni) compare token ids with None and fail, so they get a free id."""
    from transformers import CONFIG_MAPPING

    vocab = _text_vocab(config)
    unset = [
        name
        for name, tower in _PLACEHOLDER_TOWERS.items()
        if name in config and config[name] is None and isinstance(config.get(tower), dict)
    ]
    if not isinstance(vocab, int) or not unset or config.get("model_type") not in CONFIG_MAPPING:
        return
    source = _modeling_source(CONFIG_MAPPING[config["model_type"]]) or ""
    unset = [name for name in unset if f"{name} is not None" not in source]
    places = [config] + [
        config[name] for name in ("text_config", "decoder", "llm_config") if isinstance(config.get(name), dict)
    ]
    used = {value for place in places for name, value in place.items() if _is_token_id(name, value)}
    free = (candidate for candidate in range(vocab - 1, 0, -1) if candidate not in used)
    for name in unset:
        config[name] = next(free)


def _has_image_placeholder(config: dict) -> bool:
    """Models that splice image features into the text at placeholder tokens (their vision
    projection must come out at the text width, whatever an inconsistent default says)."""
    return any(_is_token_id(name, config.get(name)) for name in ("image_token_id", "image_token_index"))


def _fill_image_placeholder(config: dict) -> None:
    """BLIP-2-style defaults leave the image placeholder id unset, and their forward then finds no
    image tokens: give it the last id of the text vocabulary (the tiny one, after the shrink)."""
    vocab = _text_vocab(config)
    if not isinstance(vocab, int) or "num_query_tokens" not in config:
        return
    for name in ("image_token_index", "image_token_id", "video_token_index", "video_token_id"):
        if name in config and config[name] is None:
            config[name] = vocab - 1


def _fit_pooled_image_tokens(original: dict, config: dict) -> None:
    """Gemma3-style pooling turns the patch grid into a square of `mm_tokens_per_image` tokens:
    its side must divide the patches a side (defaults may pair a 14-patch tower with 16 a side)."""
    tokens, vision = config.get("mm_tokens_per_image"), config.get("vision_config") or original.get("vision_config")
    if not isinstance(tokens, int) or not isinstance(vision, dict):
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if not isinstance(size, int) or not isinstance(patch, int) or not patch:
        return
    patches, side = size // patch, int(round(tokens**0.5))
    if side * side == tokens and patches and patches % side == 0:
        return
    config["mm_tokens_per_image"] = (
        max(divisor for divisor in range(1, min(side, patches) + 1) if patches % divisor == 0) ** 2
    )


TINY_PREDICTION_LENGTH = 8


def _fill_forecast_horizon(config: dict) -> None:
    """Lag-based forecasters (GluonTS style) leave `prediction_length` unset, which they require."""
    if "prediction_length" in config and config["prediction_length"] is None and config.get("lags_sequence"):
        config["prediction_length"] = TINY_PREDICTION_LENGTH


def _fit_ssm_heads(config: dict) -> None:
    """Mamba2-style blocks split `expand` × width into heads of `head_dim`: keep that product."""
    width, expand, head_dim = config.get("hidden_size"), config.get("expand"), config.get("head_dim")
    if (
        not all(isinstance(value, int) and not isinstance(value, bool) for value in (width, expand, head_dim))
        or "num_heads" not in config
    ):
        return
    if (
        (width * expand) % head_dim == 0
        and isinstance(config["num_heads"], int)
        and config["num_heads"] * head_dim != width * expand
    ):
        config["num_heads"] = width * expand // head_dim
    groups = config.get("n_groups")
    if isinstance(groups, int) and isinstance(config["num_heads"], int) and groups and config["num_heads"] % groups:
        config["n_groups"] = 1


def _fill_missing_head_sizes(config: dict) -> None:
    """Some defaults leave `head_dim` or the kv-head count as None, which their models divide by."""
    width, heads = _first_int(config, sorted(_WIDTH_FIELDS)), config.get("num_attention_heads")
    if not isinstance(width, int) or not isinstance(heads, int) or not heads:
        return
    if "head_dim" in config and config["head_dim"] is None:
        config["head_dim"] = width // heads
    if "num_key_value_heads" in config and config["num_key_value_heads"] is None:
        config["num_key_value_heads"] = heads


def _fit_pixel_shuffle(config: dict) -> None:
    """Pixel shuffle (Idefics3, Aya) folds `factor` × `factor` patches: patches a side must divide."""
    factor = _first_int(config, ("scale_factor", "downsample_factor", "pixel_shuffle_factor"))
    vision = config.get("vision_config")
    if not factor or factor < 2 or not isinstance(vision, dict):
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if isinstance(size, int) and isinstance(patch, int) and (size // patch) % factor:
        vision["image_size"] = patch * factor * -(-(size // patch) // factor)


def _limit_image_size(config: dict) -> None:
    """Very large images (Pixtral's 1540 px) make thousands of patches: cap at 32 patches a side."""
    if _MILDNESS.get() >= 3:
        return
    size, patch = config.get("image_size"), config.get("patch_size")
    if "window_size" in config:  # windowed attention needs the resolutions its windows divide
        return
    if _layer_count_field(config) is None and not _STAGE_DEPTH_FIELDS & config.keys():
        return  # no encoder to spare: a prompt encoder's size must match its image encoder's
    if isinstance(size, int) and isinstance(patch, int) and patch > 0 and size // patch > MAX_PATCHES_PER_SIDE:
        config["image_size"] = patch * MAX_PATCHES_PER_SIDE


def _fit_expert_groups(config: dict) -> None:
    """Group-limited routing splits the experts into `n_group` groups: one group of the few left."""
    experts = _first_int(config, sorted(_EXPERT_FIELDS))
    if experts is None:
        return
    for name in ("n_group", "topk_group", "num_expert_group", "topk_groups"):
        if isinstance(config.get(name), int) and not isinstance(config.get(name), bool) and config[name] > 1:
            config[name] = 1


def _match_mla_head_dims(original: dict, config: dict) -> None:
    """DeepSeek-style attention: head_dim is the rotary part, qk_head_dim the sum of both parts."""
    if "qk_rope_head_dim" not in config:
        return
    if original.get("head_dim") == original.get("qk_rope_head_dim"):
        config["head_dim"] = config["qk_rope_head_dim"]
    if "qk_head_dim" in config and "qk_nope_head_dim" in config:
        config["qk_head_dim"] = config["qk_nope_head_dim"] + config["qk_rope_head_dim"]


def _fit_audio_frames(config: dict) -> None:
    """Whisper-style encoders take 2 × max_source_positions frames: make that equal the mel bins,
    so one square feature map fits both (batch, mel, frames) and (batch, frames, mel) layouts."""
    mel = next((config[name] for name in _MEL_FIELDS if isinstance(config.get(name), int)), None)
    if mel and isinstance(config.get("max_source_positions"), int):
        config["max_source_positions"] = mel // 2


# ---- vocabulary: a small one, with special token ids moved inside it ----

_TOKEN_ID_SUFFIXES = ("_token_id", "_token_index", "_token")


def _text_vocab(config: dict) -> int | None:
    for place in (config, config.get("text_config"), config.get("decoder"), config.get("decoder_config")):
        if isinstance(place, dict) and isinstance(place.get("vocab_size"), int):
            return place["vocab_size"]
    return None


def _shrink_vocab(original: dict, shrunk: dict) -> None:
    """Embedding tables dominate tiny models; special ids (here and in the text sub-config the
    composite model shares) are moved to the top of the small vocabulary, distinct ids kept distinct."""
    vocab = _text_vocab(original)
    if not isinstance(vocab, int) or vocab <= TINY_VOCAB:
        return
    places = [shrunk] + [
        shrunk[name] for name in ("text_config", "decoder", "decoder_config") if isinstance(shrunk.get(name), dict)
    ]
    large_ids = sorted(
        {
            value
            for place in places
            for name, value in place.items()
            if _is_token_id(name, value) and value >= TINY_VOCAB - 64
        }
    )
    new_id = {old: TINY_VOCAB - 1 - rank for rank, old in enumerate(reversed(large_ids))}
    for place in places:
        if isinstance(place.get("vocab_size"), int) and place["vocab_size"] > TINY_VOCAB:
            place["vocab_size"] = TINY_VOCAB
        for name, value in list(place.items()):
            if _is_token_id(name, value) and value in new_id:
                place[name] = new_id[value]


def _is_token_id(name: str, value) -> bool:
    return name.endswith(_TOKEN_ID_SUFFIXES) and isinstance(value, int) and not isinstance(value, bool)


def _keep_heads_dividing_width(config: dict) -> None:
    for width_field in _WIDTH_FIELDS & config.keys():
        for head_field in _HEAD_FIELDS & config.keys():
            width, heads = config[width_field], config[head_field]
            if isinstance(width, int) and isinstance(heads, int) and heads and width % heads:
                config[head_field] = 1


def _keep_kv_heads_dividing_heads(original: dict, config: dict) -> None:
    """Grouped-query only where the default groups too: many models (MLA, ESM) assume kv == heads."""
    heads = config.get("num_attention_heads")
    for field in _KV_HEAD_FIELDS & config.keys():
        kv_heads = config[field]
        if not isinstance(heads, int) or not isinstance(kv_heads, int):
            continue
        if original.get(field) == original.get("num_attention_heads"):
            config[field] = heads
        elif kv_heads and heads % kv_heads:
            config[field] = 1


# ---- layers: per-layer lists, index maps and patterns follow the layers that are kept ----


def _layer_count_field(config: dict) -> str | None:
    for name in ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "depth"):
        if isinstance(config.get(name), int) and not isinstance(config.get(name), bool):
            return name
    return None


def _kept_layers(config: dict, original: int, wanted: int) -> list[int]:
    """First layers, plus the first layer of every distinct layer type so that no kind is lost."""
    kept = set(range(min(wanted, original)))
    for field in _LAYER_TYPE_FIELDS:
        types = config.get(field)
        if isinstance(types, list) and types and all(isinstance(kind, str) for kind in types):
            # A short list is a pattern cycled over the layers: index it modulo its length.
            per_layer = [types[index % len(types)] for index in range(original)]
            first_of_kind = {}
            for index, kind in enumerate(per_layer):
                first_of_kind.setdefault(kind, index)
            kept |= set(first_of_kind.values())
    for name, value in config.items():
        # Lists of special layers (Bamba's `attn_layer_indices`): keep the first one of them.
        if _names_layer_indices(name) and _is_int_list(value) and all(0 <= index < original for index in value):
            kept.add(min(value))
    kept |= _partner_layers(config, original)
    return sorted(kept)


def _partner_layers(config: dict, original: int) -> set[int]:
    """Layers kept beside the first of each kind so that sharing across layers survives: a second
    layer of each periodic kind (`*_layer_period`: Zamba ties one shared block across its hybrid
    layers, which needs two of them), and the last layer where the last layers reuse the kv cache
    of earlier ones (`num_kv_shared_layers`), so that one consumer remains."""
    extra = set()
    if any(name.endswith(("_layer_period", "_layers_period")) for name in config):
        for field in _LAYER_TYPE_FIELDS:
            types = config.get(field)
            if isinstance(types, list) and len(types) == original and all(isinstance(kind, str) for kind in types):
                for kind in set(types):
                    extra |= set([index for index, each in enumerate(types) if each == kind][:2])
    shared = config.get("num_kv_shared_layers")
    if _is_plain_int(shared) and 0 < shared < original:
        extra.add(original - 1)
    return extra


def _follow_kept_layers(original_config: dict, shrunk: dict) -> None:
    field = _layer_count_field(original_config)
    if field is None or shrunk[field] >= original_config[field]:
        return
    if _STAGE_DEPTH_FIELDS & original_config.keys():
        # Staged backbones (Swin): the layer count is the number of stages, kept as it is.
        shrunk[field] = original_config[field]
        return
    original = original_config[field]
    kept = _kept_layers(original_config, original, shrunk[field])
    shrunk[field] = len(kept)
    new_index = {old: new for new, old in enumerate(kept)}
    for name, value in original_config.items():
        if name == field or isinstance(value, dict) and "model_type" in value:
            continue
        projected = _project_layer_value(name, shrunk.get(name, value), original, kept, new_index)
        if projected is not None:
            shrunk[name] = projected
    _fit_layer_periods(shrunk, len(kept))
    _fit_backbone_outputs(shrunk, len(kept))


def _project_layer_value(name: str, value: Any, original: int, kept: list[int], new_index: dict[int, int]):
    """The value restricted to the kept layers, or None where it is not per-layer."""
    if isinstance(value, list) and len(value) == original and name not in _STAGE_WIDTH_FIELDS | _STAGE_DEPTH_FIELDS:
        return [value[index] for index in kept]
    if (
        isinstance(value, str)
        and len(value) == original
        and original > 4
        and not any(char.islower() or char.isspace() for char in value)
    ):
        return "".join(value[index] for index in kept)  # e.g. hybrid patterns like "M-M*-"
    if (
        isinstance(value, dict)
        and value
        and all(_as_index(key) is not None and _as_index(key) < original for key in value)
    ):
        # Per-layer settings keyed by layer index.
        return {
            str(new_index[_as_index(key)]) if isinstance(key, str) else new_index[_as_index(key)]: item
            for key, item in value.items()
            if _as_index(key) in new_index
        }
    if _names_layer_indices(name) and _is_int_list(value) and all(0 <= index < original for index in value):
        return [new_index[index] for index in value if index in new_index]
    if name in ("num_kv_shared_layers",) and isinstance(value, int) and value:
        return max(1, sum(index >= original - value for index in kept)) if value < original else len(kept)
    return None


def _as_index(key) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return int(key) if isinstance(key, str) and key.isdigit() else None


def _names_layer_indices(name: str) -> bool:
    words = ("layer_ids", "layer_idx", "layers_idx", "layer_indices", "_layers", "block_indexes", "layer_indexes")
    return any(word in name for word in words) and "num_" not in name


def _fit_layer_periods(config: dict, layers: int) -> None:
    """`*_period`/`*_offset` schedules (Jamba) must place at least one layer of each kind."""
    for name, value in list(config.items()):
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if name.endswith("_layer_period") or name.endswith("_layers_period"):
            config[name] = min(value, layers)
        elif name.endswith("_layer_offset") or name.endswith("_layers_offset"):
            config[name] = min(value, layers - 1)
        elif name in ("first_k_dense_replace", "max_window_layers", "num_dense_layers"):
            config[name] = min(value, layers - 1)


def _fit_backbone_outputs(config: dict, layers: int) -> None:
    """Backbones named by stage (`stage9`) must name stages that still exist; keep their count."""
    out_features = config.get("out_features")
    out_indices = config.get("out_indices")
    wanted = len(out_features or out_indices or [])
    if not wanted:
        return
    field = _layer_count_field(config)
    layers = max(layers, wanted)
    config[field] = layers
    indices = list(range(layers - wanted + 1, layers + 1))
    if out_features:
        config["out_features"] = [f"stage{index}" for index in indices]
    if out_indices:
        config["out_indices"] = indices
    if isinstance(config.get("stage_names"), list):
        config["stage_names"] = ["stem"] + [f"stage{index}" for index in range(1, layers + 1)]


# ---- rotary embeddings ----


def _first_int(config: dict, names) -> int | None:
    return next(
        (
            config[name]
            for name in names
            if isinstance(config.get(name), int) and not isinstance(config.get(name), bool)
        ),
        None,
    )


def _fit_rope_sections(config: dict) -> None:
    """Multimodal rotary sections must add up to half the (shrunk) head size."""
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int):
        width, heads = _first_int(config, sorted(_WIDTH_FIELDS)), _first_int(config, sorted(_HEAD_FIELDS))
        head_dim = width // heads if width and heads else None
    rope = config.get("rope_parameters") or config.get("rope_scaling")
    if head_dim and isinstance(rope, dict):
        if _uses_multimodal_rope(config.get("model_type")) and "mrope_section" not in rope:
            # the model's fallback sections fit only the full head size: start from their proportions
            rope["mrope_section"] = _fallback_sections(config.get("model_type")) or [0, 0, 0]
        partial = rope.get("partial_rotary_factor") or config.get("partial_rotary_factor") or 1.0
        for key in ("mrope_section", "mrope_sections"):
            if _is_int_list(rope.get(key)):
                rope[key] = _split_keeping_equal_sections(int(head_dim * partial) // 2, rope[key])
    if isinstance(config.get("rotary_dim"), int) and head_dim:
        config["rotary_dim"] = min(config["rotary_dim"], head_dim)


def _uses_multimodal_rope(model_type) -> bool:
    """Config classes that use multimodal rotary sections say so by exempting them from validation."""
    from transformers import CONFIG_MAPPING

    try:
        config_class = CONFIG_MAPPING[model_type]
    except KeyError:
        return False
    if "mrope_section" in getattr(config_class, "ignore_keys_at_rope_validation", ()):
        return True
    # Only text models (they have a vocabulary) rotate text positions by sections.
    return "vocab_size" in getattr(config_class, "__dataclass_fields__", {}) and _falls_back_to_default_sections(
        config_class
    )


def _fallback_sections(model_type) -> list[int] | None:
    """The sections a model's code falls back to (ERNIE-VL's [22, 22, 20]), read from its source."""
    import re

    from transformers import CONFIG_MAPPING

    try:
        source = _modeling_source(CONFIG_MAPPING[model_type])
    except KeyError:
        return None
    found = re.search(r'\.get\("mrope_section",\s*\[([\d,\s]+)\]\)', source or "")
    return [int(value) for value in found.group(1).split(",") if value.strip()] if found else None


def _modeling_source_of_type(model_type) -> str:
    from transformers import CONFIG_MAPPING

    try:
        return _modeling_source(CONFIG_MAPPING[model_type]) or ""
    except (KeyError, TypeError):
        return ""


def _modeling_source(config_class) -> str | None:
    import importlib.util

    module = getattr(config_class, "__module__", "")
    if ".configuration_" not in module:
        return None
    try:
        spec = importlib.util.find_spec(module.replace(".configuration_", ".modeling_"))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    with open(spec.origin, encoding="utf-8") as source:
        return source.read()


def _falls_back_to_default_sections(config_class) -> bool:
    """Models whose code reads `mrope_section` with a full-size fallback (PaddleOCR-VL) need it set."""
    return '.get("mrope_section",' in (_modeling_source(config_class) or "")


def _split_keeping_equal_sections(total: int, default: list[int]) -> list[int]:
    """An even split, unless it makes sections unequal that are equal by default (ERNIE-VL stacks
    its height and width sections): then a split in the default's proportions, the remainder going
    to sections whose size is their own."""
    even = _split_evenly(total, len(default))
    if not sum(default) or all(
        even[i] == even[j] for i in range(len(default)) for j in range(len(default)) if default[i] == default[j]
    ):
        return even
    scaled = [total * value // sum(default) for value in default]
    single = [index for index, value in enumerate(default) if default.count(value) == 1]
    for step in range(total - sum(scaled)):
        if not single:
            return even
        scaled[single[-1 - step % len(single)]] += 1
    return scaled


def _split_evenly(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if part < extra else 0) for part in range(parts)]


# ---- decoder, MoE and state-space defaults that the library leaves unset or inconsistent ----

_TOP_K_FIELDS = _EXPERT_PER_TOKEN_FIELDS | {"top_k_experts"}
TINY_INDEXER_BUDGET = 16
TINY_INDEXER_COMPRESS_RATIO = 4


def _config_class(model_type):
    from transformers import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        return None


def _fill_missing_experts(config: dict) -> None:
    """MoE defaults may leave the expert count, top-k, shared experts or expert width unset for a
    checkpoint to fill, while the model still builds its router from them: give them tiny values,
    unless a switch (`enable_moe_block`, `use_moe`) turns the MoE block off."""
    if any(value is False and name.startswith(("enable_", "use_")) and "moe" in name for name, value in config.items()):
        return
    counts = _EXPERT_FIELDS & config.keys()
    if not counts:
        return
    for name in counts:
        if config[name] is None:
            config[name] = TINY_EXPERTS
    if _first_int(config, sorted(counts)) is None:
        return
    for name in _TOP_K_FIELDS & config.keys():
        if config[name] is None:
            config[name] = TINY_EXPERTS_PER_TOKEN
    if "n_shared_experts" in config and config["n_shared_experts"] is None:
        config["n_shared_experts"] = 1
    if "moe_intermediate_size" in config and config["moe_intermediate_size"] is None:
        config["moe_intermediate_size"] = TINY_FFN


def _fill_missing_vocab(config: dict) -> None:
    """A token vocabulary left unset (ESM reads it from its checkpoint's vocab file): the tiny one,
    with a padding id in it where that is unset too (positions are counted from the padding id)."""
    if "vocab_size" in config and config["vocab_size"] is None and _layer_count_field(config):
        config["vocab_size"] = TINY_VOCAB
        if "pad_token_id" in config and config["pad_token_id"] is None:
            config["pad_token_id"] = 0


def _fill_missing_layer_types(config: dict) -> None:
    """Per-layer attention kinds left unset while the model indexes them per layer (LFM2-MoE):
    full attention everywhere, the library's usual default."""
    field = _layer_count_field(config)
    if (
        "layer_types" in config
        and config["layer_types"] is None
        and field
        and isinstance(config.get("num_attention_heads"), int)
    ):
        config["layer_types"] = ["full_attention"] * config[field]


def _fill_rope_per_layer_type(config: dict) -> None:
    """Rotary settings left empty where the model reads them per layer type: the default rotary
    embedding for each kind (its theta from the config class), multimodal sections fitted."""
    types = config.get("layer_types")
    if (
        config.get("rope_parameters") != {}
        or not isinstance(types, list)
        or not all(isinstance(kind, str) for kind in types)
    ):
        return
    theta = getattr(_config_class(config.get("model_type")), "default_theta", None) or 10_000.0
    rope = {kind: {"rope_type": "default", "rope_theta": theta} for kind in dict.fromkeys(types)}
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int):
        width, heads = _first_int(config, sorted(_WIDTH_FIELDS)), config.get("num_attention_heads")
        head_dim = width // heads if isinstance(width, int) and isinstance(heads, int) and heads else None
    if head_dim and _uses_multimodal_rope(config.get("model_type")):
        for entry in rope.values():
            entry["mrope_section"] = _split_evenly(head_dim // 2, 3)
    config["rope_parameters"] = rope


def _fill_indexer_sizes(config: dict) -> None:
    """Indexed (sparse) attention layers need their token indexer's sizes, which some defaults
    leave unset (None): tiny ones, with the index heads as wide as the attention heads."""
    types = config.get("layer_types")
    if not isinstance(types, list) or "indexed_attention" not in types:
        return
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int):
        return
    sizes = {
        "indexer_n_heads": TINY_HEADS,
        "indexer_kv_heads": TINY_KV_HEADS,
        "indexer_head_dim": head_dim,
        "indexer_budget": TINY_INDEXER_BUDGET,
        "indexer_compress_ratio": TINY_INDEXER_COMPRESS_RATIO,
    }
    for name, value in sizes.items():
        if name in config and config[name] is None:
            config[name] = value


def _shrink_per_layer_overrides(config: dict) -> None:
    """`per_layer_config` entries override the config's own fields for some layers (wider global
    heads, other head counts): shrink them like the config, kv heads still matching heads where
    they did, so the layers keep the relations the validators check."""
    overrides = config.get("per_layer_config")
    if not isinstance(overrides, dict):
        return
    for key, entry in list(overrides.items()):
        if isinstance(entry, dict):
            shrunk = {name: _shrink_value(name, value) for name, value in entry.items()}
            _keep_kv_heads_dividing_heads(entry, shrunk)
            overrides[key] = shrunk


def _follow_derived_aliases(original: dict, config: dict) -> None:
    """A field the config class leaves None and derives from another (xLSTM's `embedding_dim` from
    `hidden_size`, `num_blocks` from `num_hidden_layers`) keeps the default's full value in the
    dict: where the source shrank, the alias follows it. Checked by building the config class with
    only the source changed."""
    cls = _config_class(original.get("model_type"))
    fields = getattr(cls, "__dataclass_fields__", None)
    if not fields:
        return
    changed = {
        name: value
        for name, value in config.items()
        if _is_plain_int(original.get(name)) and _is_plain_int(value) and value != original[name]
    }
    for name, field in fields.items():
        if (
            field.default is not None
            or name in changed
            or not _is_plain_int(original.get(name))
            or config.get(name) != original[name]
        ):
            continue
        for source in sorted(changed):
            if source == name or original[source] != original[name] or fields.get(source) is None:
                continue
            try:
                derived = getattr(cls(**{source: changed[source]}), name, None)
            except Exception:
                continue
            if derived == changed[source]:
                config[name] = changed[source]
                break


def _is_plain_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shrink_hash_vocab(config: dict) -> None:
    """Extra embedding tables as large as the vocabulary (BLT's hashed n-grams `*_vocab`, Gemma3n's
    per-layer inputs `vocab_size_per_layer_input`) shrink alike; per-layer FFN width lists too."""
    for name, value in list(config.items()):
        if (name.endswith("_vocab") or name.startswith("vocab_size_")) and _is_plain_int(value) and value > TINY_VOCAB:
            config[name] = TINY_VOCAB
        elif name in _FFN_FIELDS and _is_int_list(value) and not _skipped_by_mildness(name):
            config[name] = [min(each, TINY_FFN) for each in value]


def _share_rope_theta_with_attention(config: dict) -> None:
    """Attention sub-configs (DBRX's `attn_config`) that the attention module reads `rope_theta` from,
    though their class does not define it: give them the model's rotary base."""
    rope = config.get("rope_parameters")
    theta = rope.get("rope_theta") if isinstance(rope, dict) else None
    for name in ("attn_config", "attention_config"):
        sub = config.get(name)
        if theta is not None and isinstance(sub, dict) and "rope_theta" not in sub:
            sub["rope_theta"] = theta


_LINEAR_LAYER_KINDS = {"linear_attention", "mamba", "mamba2", "conv", "ssm", "recurrent"}


def _skip_cache_without_attention(original: dict, config: dict) -> None:
    """Run without the cache where the library cannot build or read it: hybrid models (attention
    heads configured) whose default layers are all linear attention hold no attention layer in it,
    so their forward cannot read positions from it (Bamba, GraniteMoeHybrid); and a text config
    without a layer count (BLT keeps its layers in sub-configs) gives the cache nothing to size."""
    if config.get("use_cache") is not True:
        return
    cls = _config_class(original.get("model_type"))
    try:
        built = cls.from_dict(original)
        text = built.get_text_config(decoder=True)
    except Exception:
        return
    kinds = (
        set(getattr(built, "layer_types", None) or ())
        if isinstance(original.get("num_attention_heads"), int)
        else set()
    )
    if kinds and all(isinstance(kind, str) for kind in kinds) and kinds <= _LINEAR_LAYER_KINDS:
        config["use_cache"] = False
    elif not _is_plain_int(getattr(text, "num_hidden_layers", None)):
        config["use_cache"] = False


def _bound_attention_clipping(config: dict) -> None:
    """Attention sub-configs of rotary models (DBRX's `attn_config`; MPT's, without rotary, checks
    the bound first) whose forward clamps q/k/v by `clip_qkv` unconditionally: a bound left unset
    (None) becomes the published one (8)."""
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" not in rope:
        return
    for name in ("attn_config", "attention_config"):
        sub = config.get(name)
        if isinstance(sub, dict) and "clip_qkv" in sub and sub["clip_qkv"] is None:
            sub["clip_qkv"] = TINY_QKV_CLIP


TINY_QKV_CLIP = 8.0


_ADAPTER_WIDTH_WORDS = ("in_dim", "input_size", "out_dim", "output_size")


def _follow_adapter_widths(original: dict, config: dict) -> None:
    """Adapters between towers (Dots3's `adapter_in_dim`, `adapter_out_dim`) take the width of the
    tower they read and give the width of the text tower: where a sub-config's adapter width
    equals either default width, it follows that width's tiny value (validators check both)."""
    text, full_text = config.get("text_config"), original.get("text_config")
    text_width = text.get("hidden_size") if isinstance(text, dict) else None
    full_text_width = full_text.get("hidden_size") if isinstance(full_text, dict) else None
    for key, sub in config.items():
        full = original.get(key)
        if not isinstance(sub, dict) or "model_type" not in sub or not isinstance(full, dict):
            continue
        for name in [
            name for name in sub if isinstance(name, str) and any(word in name for word in _ADAPTER_WIDTH_WORDS)
        ]:
            if not _is_plain_int(full.get(name)) or sub[name] != full[name]:
                continue
            if full[name] == full.get("hidden_size") and _is_plain_int(sub.get("hidden_size")):
                sub[name] = sub["hidden_size"]
            elif full[name] == full_text_width and _is_plain_int(text_width) and key != "text_config":
                sub[name] = text_width


def _fit_mamba_heads(config: dict) -> None:
    """Hybrid Mamba2 blocks (Bamba, GraniteMoeHybrid) split `mamba_expand` × width into `mamba_n_heads`
    heads of `mamba_d_head`: a default of 128 heads over a tiny width makes heads of one channel
    and a forward of seconds, so the head count follows the tiny width instead."""
    width, expand, head = config.get("hidden_size"), config.get("mamba_expand"), config.get("mamba_d_head")
    heads = config.get("mamba_n_heads")
    if "mamba_d_ssm" in config or not all(_is_plain_int(value) and value > 0 for value in (width, expand, head, heads)):
        return
    if (width * expand) % head == 0 and heads * head != width * expand:
        config["mamba_n_heads"] = width * expand // head
        groups = config.get("mamba_n_groups")
        if _is_plain_int(groups) and groups and config["mamba_n_heads"] % groups:
            config["mamba_n_groups"] = 1


_DIM_FACTOR_MULTIPLE = 64


def _fit_dim_factors(original: dict, config: dict) -> None:
    """xLSTM sizes its q/k and v heads as width × `*_dim_factor`, rounded up to a multiple of 64 in
    some places and not in others: where the default width made both agree, the tiny one must too."""
    factors = [
        value
        for name, value in config.items()
        if name.endswith("_dim_factor") and isinstance(value, float) and value > 0
    ]
    width, full = config.get("hidden_size"), original.get("hidden_size")
    if not factors or not _is_plain_int(width) or not _is_plain_int(full) or width == full:
        return

    def aligned(size):
        return all((size * factor) % _DIM_FACTOR_MULTIPLE == 0 for factor in factors)

    if aligned(full) and not aligned(width):
        config["hidden_size"] = next((size for size in range(width, full + 1, width) if aligned(size)), full)


def _follow_sibling_tower_widths(config: dict) -> None:
    """A sub-config's `hidden_size_<tower>` is the width of its sibling `<tower>_config` (BLT's local
    encoder and decoder read the global transformer's width): it follows that tower's tiny width."""
    for sub in config.values():
        if not isinstance(sub, dict) or "model_type" not in sub:
            continue
        for name in [key for key in sub if isinstance(key, str) and key.startswith("hidden_size_")]:
            tower = config.get(name[len("hidden_size_") :] + "_config")
            if isinstance(tower, dict) and _is_plain_int(tower.get("hidden_size")) and _is_plain_int(sub[name]):
                sub[name] = tower["hidden_size"]


# A milder rung keeps more of the full model: never accept one this large for a `tiny` size.
MAX_TINY_PARAMS = 60_000_000


def _overrides_at(default_config: dict, mildness: int) -> dict:
    token = _MILDNESS.set(mildness)
    try:
        shrunk = shrink_config_dict(default_config)
    finally:
        _MILDNESS.reset(token)
    return {name: value for name, value in shrunk.items() if value != default_config.get(name)}


def tiny_overrides(default_config: dict, validate: bool = True) -> dict:
    """Only the fields that differ between the default and the tiny config.

    A changed nested sub-config is given whole: a partial dict would reset its other fields to
    the sub-config class defaults, which composite models often override.

    With `validate`, each candidate of `ladder_candidates` is checked in this process the way a
    skillset uses it (build on cpu, valid inputs, one forward, finite output) and the first that
    works is returned (the pipeline checks the same ladder in isolated processes instead:
    `generate.checked_specs`). When none works, or the type is unknown to the library, the full
    shrink is returned.
    """
    first = _overrides_at(default_config, 0)
    if not validate:
        return first
    entry = _catalog_entry(default_config.get("model_type"))
    if entry is None:
        return first
    from mlperf_pipeline.skillsets.checks import Ladder
    from mlperf_pipeline.skillsets.runtime import SkillsetInfo

    ladder = Ladder(
        SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, first),
        *ladder_candidates(default_config),
    )
    while (index := ladder.next_unknown()) is not None:
        code = check_overrides(entry, ladder.candidates[index])
        ladder.outcomes[index] = {"status": "ok" if code is None else "failed", "reason_code": code}
    return ladder.overrides


def _keep_heads_overrides(default_config: dict) -> dict:
    token = _KEEP_HEADS.set(True)
    try:
        return _overrides_at(default_config, 0)
    finally:
        _KEEP_HEADS.reset(token)


def _catalog_entry(model_type):
    if not isinstance(model_type, str):
        return None
    try:
        from mlperf_pipeline.catalog.catalog import entry_for

        entry = entry_for(model_type)
    except Exception:
        return None
    return entry if getattr(entry, "has_model_class", False) and entry.model_type == model_type else None


def check_overrides(entry, overrides: dict, batch_size: int = 1, seq_len: int = 128) -> str | None:
    """None when the overrides give a model that builds, runs one forward and stays finite;
    else the reason code (the smoke check, `checks.check_info`, in this process)."""
    import torch

    from mlperf_pipeline.skillsets.checks import check_info
    from mlperf_pipeline.skillsets.runtime import SkillsetInfo

    info = SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, overrides)
    state = torch.random.get_rng_state()
    try:
        return check_info(info, MAX_TINY_PARAMS, batch_size=batch_size, seq_len=seq_len)["reason_code"]
    finally:
        torch.random.set_rng_state(state)


def ladder_candidates(default_config: dict) -> tuple[list[dict], int]:
    """The distinct tiny overrides to try, fullest shrink first, and where the last resort starts.

    First the rungs of the mildness ladder (full shrink, keep stage widths, keep widths, cut
    layers only); then, as a last resort, the full shrink with the default head counts kept (for
    attention code that hard-codes a head split). Returns (candidates, index of the last resort)."""
    candidates: list[dict] = []
    for mildness in MILDNESS_LEVELS:
        overrides = _overrides_at(default_config, mildness)
        if overrides not in candidates:
            candidates.append(overrides)
    rungs = len(candidates)
    keep_heads = _keep_heads_overrides(default_config)
    if keep_heads not in candidates:
        candidates.append(keep_heads)
    return candidates, rungs
