"""Passes for layers: per-layer lists, index maps, patterns and schedules follow the layers that
are kept, and hooks and block counts name layers that still exist."""

from __future__ import annotations

from typing import Any

from mlperf_pipeline.skillsets.shrink.fields import LAYER_TYPE_FIELDS, STAGE_DEPTH_FIELDS, STAGE_WIDTH_FIELDS
from mlperf_pipeline.skillsets.shrink.lookups import (
    as_index,
    is_int_list,
    is_plain_int,
    layer_count_field,
    names_layer_indices,
)
from mlperf_pipeline.skillsets.shrink.passes.attention import keep_kv_heads_dividing_heads
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass
from mlperf_pipeline.skillsets.shrink.values import shrink_value


@shrink_pass
def fit_final_blocks(original: dict, config: dict) -> None:
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


@shrink_pass
def fit_sub_layer_hooks(original: dict, config: dict) -> None:
    """Hooks a parent sets on a sub-encoder's layers (`intermediate_hook_ids`) must name layers
    the shrunk sub-encoder still has."""
    layers = [sub.get("num_hidden_layers") for sub in config.values() if isinstance(sub, dict) and "model_type" in sub]
    layers = [count for count in layers if isinstance(count, int) and count > 0]
    if not layers:
        return
    for name, value in list(config.items()):
        if name.endswith("_hook_ids") and is_int_list(value) and max(value) >= min(layers):
            # Deepest hook on the last kept layer, the next one below it, and so on (order kept).
            rank = {index: place for place, index in enumerate(sorted(set(value), reverse=True))}
            config[name] = [max(0, min(layers) - 1 - rank[index]) for index in value]


@shrink_pass
def fit_global_attention_layers(original: dict, config: dict) -> None:
    """Windowed ViTs (SAM) name their global-attention layers in `global_attn_indexes`, and some
    models read those layers' states (DeepSeek-VL hybrid): the last kept layer becomes the global one."""
    field = layer_count_field(config)
    indexes = original.get("global_attn_indexes")
    if field is None or not is_int_list(indexes) or not isinstance(config.get(field), int):
        return
    layers = config[field]
    if any(index >= layers for index in indexes):
        config["global_attn_indexes"] = [layers - 1]


def _kept_layers(config: dict, original: int, wanted: int) -> list[int]:
    """First layers, plus the first layer of every distinct layer type so that no kind is lost."""
    kept = set(range(min(wanted, original)))
    for field in LAYER_TYPE_FIELDS:
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
        if names_layer_indices(name) and is_int_list(value) and all(0 <= index < original for index in value):
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
        for field in LAYER_TYPE_FIELDS:
            types = config.get(field)
            if isinstance(types, list) and len(types) == original and all(isinstance(kind, str) for kind in types):
                for kind in set(types):
                    extra |= set([index for index, each in enumerate(types) if each == kind][:2])
    shared = config.get("num_kv_shared_layers")
    if is_plain_int(shared) and 0 < shared < original:
        extra.add(original - 1)
    return extra


@shrink_pass
def follow_kept_layers(original_config: dict, shrunk: dict) -> None:
    field = layer_count_field(original_config)
    if field is None or shrunk[field] >= original_config[field]:
        return
    if STAGE_DEPTH_FIELDS & original_config.keys():
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
    if isinstance(value, list) and len(value) == original and name not in STAGE_WIDTH_FIELDS | STAGE_DEPTH_FIELDS:
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
        and all(as_index(key) is not None and as_index(key) < original for key in value)
    ):
        # Per-layer settings keyed by layer index.
        return {
            str(new_index[as_index(key)]) if isinstance(key, str) else new_index[as_index(key)]: item
            for key, item in value.items()
            if as_index(key) in new_index
        }
    if names_layer_indices(name) and is_int_list(value) and all(0 <= index < original for index in value):
        return [new_index[index] for index in value if index in new_index]
    if name in ("num_kv_shared_layers",) and isinstance(value, int) and value:
        return max(1, sum(index >= original - value for index in kept)) if value < original else len(kept)
    return None


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
    field = layer_count_field(config)
    layers = max(layers, wanted)
    config[field] = layers
    indices = list(range(layers - wanted + 1, layers + 1))
    if out_features:
        config["out_features"] = [f"stage{index}" for index in indices]
    if out_indices:
        config["out_indices"] = indices
    if isinstance(config.get("stage_names"), list):
        config["stage_names"] = ["stem"] + [f"stage{index}" for index in range(1, layers + 1)]


@shrink_pass
def fill_missing_layer_types(original: dict, config: dict) -> None:
    """Per-layer attention kinds left unset while the model indexes them per layer (LFM2-MoE):
    full attention everywhere, the library's usual default."""
    field = layer_count_field(config)
    if (
        "layer_types" in config
        and config["layer_types"] is None
        and field
        and isinstance(config.get("num_attention_heads"), int)
    ):
        config["layer_types"] = ["full_attention"] * config[field]


@shrink_pass
def shrink_per_layer_overrides(original: dict, config: dict) -> None:
    """`per_layer_config` entries override the config's own fields for some layers (wider global
    heads, other head counts): shrink them like the config, kv heads still matching heads where
    they did, so the layers keep the relations the validators check."""
    overrides = config.get("per_layer_config")
    if not isinstance(overrides, dict):
        return
    for key, entry in list(overrides.items()):
        if isinstance(entry, dict):
            shrunk = {name: shrink_value(name, value) for name, value in entry.items()}
            keep_kv_heads_dividing_heads(entry, shrunk)
            overrides[key] = shrunk
