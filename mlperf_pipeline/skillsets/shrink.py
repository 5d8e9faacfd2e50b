"""Shrink a library default config to a `tiny` one that builds and runs in seconds.

The rules act on field names shared across the library (layers, heads, widths, stage lists) and
recurse into nested sub-configs (text/vision/audio, encoder/decoder). Only changed fields are
returned, so a generated skillset shows exactly what differs from the library default.
"""

from __future__ import annotations

from typing import Any

TINY_LAYERS = 2
TINY_HEADS = 2
TINY_KV_HEADS = 1
TINY_WIDTH = 64
TINY_FFN = 128
TINY_SOURCE_POSITIONS = 64

_LAYER_FIELDS = {
    "num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
    "num_encoder_layers", "num_decoder_layers", "num_hidden_groups_layers",
}
_HEAD_FIELDS = {
    "num_attention_heads", "encoder_attention_heads", "decoder_attention_heads", "n_head",
    "n_heads", "num_heads",
}
_KV_HEAD_FIELDS = {"num_key_value_heads", "num_kv_heads", "n_kv_heads"}
_WIDTH_FIELDS = {"hidden_size", "d_model", "n_embd", "embed_dim", "dim", "embedding_size"}
_FFN_FIELDS = {
    "intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner",
    "hidden_dim", "mlp_dim", "projection_dim",
}
_STAGE_DEPTH_FIELDS = {"depths", "num_layers_per_stage", "stage_depths"}
_STAGE_WIDTH_FIELDS = {"hidden_sizes", "embed_dims", "dims", "embedding_dims"}
_STAGE_HEAD_FIELDS = {"num_heads"}
_CONV_WIDTH_FIELDS = {"conv_dim"}


def _shrink_int(name: str, value: int) -> int:
    if name in _LAYER_FIELDS:
        return min(value, TINY_LAYERS)
    if name in _HEAD_FIELDS:
        return min(value, TINY_HEADS)
    if name in _KV_HEAD_FIELDS:
        return min(value, TINY_KV_HEADS)
    if name in _WIDTH_FIELDS:
        return min(value, TINY_WIDTH)
    if name in _FFN_FIELDS:
        return min(value, TINY_FFN)
    if name == "head_dim":
        return min(value, TINY_WIDTH // TINY_HEADS)
    if name == "max_source_positions":
        return min(value, TINY_SOURCE_POSITIONS)
    return value


def _shrink_list(name: str, values: list) -> list:
    if not values or not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return values
    if name in _STAGE_DEPTH_FIELDS:
        return [1 for _ in values]
    if name in _STAGE_WIDTH_FIELDS:
        return [16 * 2**stage for stage in range(len(values))]
    if name in _STAGE_HEAD_FIELDS:
        return [2**stage for stage in range(len(values))]
    if name in _CONV_WIDTH_FIELDS:
        return [32 for _ in values]
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
    return value


# Base-config bookkeeping that every config carries with the same defaults: left out of nested
# sub-configs so a generated skillset shows only what matters.
_BASE_CONFIG_NOISE = {
    "_name_or_path", "architectures", "dtype", "id2label", "label2id", "return_dict",
    "output_attentions", "output_hidden_states", "chunk_size_feed_forward", "problem_type",
    "transformers_version",
}


def shrink_config_dict(config: dict) -> dict:
    """The whole config with tiny values (nested sub-configs shrunk too)."""
    shrunk = {name: _shrink_value(name, value) for name, value in config.items()}
    _keep_heads_dividing_width(shrunk)
    return shrunk


def _keep_heads_dividing_width(config: dict) -> None:
    for width_field in _WIDTH_FIELDS & config.keys():
        for head_field in _HEAD_FIELDS & config.keys():
            width, heads = config[width_field], config[head_field]
            if isinstance(width, int) and isinstance(heads, int) and heads and width % heads:
                config[head_field] = 1


def tiny_overrides(default_config: dict) -> dict:
    """Only the fields that differ between the default and the tiny config.

    A changed nested sub-config is given whole: a partial dict would reset its other fields to
    the sub-config class defaults, which composite models often override.
    """
    shrunk = shrink_config_dict(default_config)
    return {name: value for name, value in shrunk.items() if value != default_config.get(name)}
