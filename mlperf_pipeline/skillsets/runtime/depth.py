"""A model config cut to fewer layers, so that a forward is counted at a fraction of its cost.

Counting a full-size model on real cpu tensors (`counting.py`, for forwards that need real values
on the meta device) builds and runs every layer: about a minute for a model of 1 B parameters.
A stack of layers that repeat costs the same per layer, so a forward's FLOPs, bytes and operators
lie on a line in the depth: counted at a few shallow depths, they give the full depth's count.
`counting.py` checks that line before it trusts it.

A config has one depth when every layer-count field of it and of its sub-configs (an
encoder-decoder's `encoder_layers` and `decoder_layers`, a multimodal model's towers) holds the
same number; a config whose towers differ in depth is not cut. Cutting also shortens the per-layer
lists and patterns of those configs (`layer_types`, a hybrid model's block pattern) to the new depth.
A config that places some layers by index past the shallowest cut (`layers_placed_beyond`) is not
carried along the depth: cuts of a few layers can all miss such a layer and still lie on one line.
"""

from __future__ import annotations

import copy

from mlperf_pipeline.skillsets.runtime.lookups import SUB_CONFIG_NAMES

DEPTH_FIELDS = (
    "num_hidden_layers",
    "n_layer",
    "num_layers",
    "n_layers",
    "encoder_layers",
    "decoder_layers",
    "num_encoder_layers",
    "num_decoder_layers",
)


def _configs(config) -> list:
    """`config` and every sub-config under it (each once)."""
    found, pending = [], [config]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        names = set(SUB_CONFIG_NAMES) | set(getattr(current, "sub_configs", None) or {})
        pending += [sub for name in sorted(names) if hasattr(sub := getattr(current, name, None), "to_dict")]
    return found


def _depth_fields(config) -> list[tuple[object, str, int]]:
    """(config, field, value) of every layer-count field set to a positive integer."""
    fields = []
    for holder in _configs(config):
        for name in DEPTH_FIELDS:
            value = getattr(holder, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                fields.append((holder, name, value))
    return fields


def depth_of(config) -> int | None:
    """The one depth of `config`, None when it has no layer-count field or its fields differ."""
    depths = {value for _, _, value in _depth_fields(config)}
    return depths.pop() if len(depths) == 1 else None


def at_depth(config, depth: int):
    """A copy of `config` (which has one depth, `depth_of`) with `depth` layers: every layer-count
    field set to it, and each list, tuple or string as long as the old depth on a config that has
    such a field cut to its first `depth` entries (a string only where its name says it is a
    pattern: `hidden_act = "gelu_new"` is not one entry per layer of an 8-layer model)."""
    full = depth_of(config)
    if full is None:
        raise ValueError("the config has no single depth to cut (no layer-count field, or towers that differ)")
    if not 0 < depth <= full:
        raise ValueError(f"depth {depth} is not between 1 and the config's own depth {full}")
    cut = copy.deepcopy(config)
    holders = {id(holder): holder for holder, _, _ in _depth_fields(cut)}
    for holder in holders.values():
        for name, value in list(vars(holder).items()):
            if _per_layer(name, value, full):
                setattr(holder, name, value[:depth])
        for name in DEPTH_FIELDS:
            if isinstance(getattr(holder, name, None), int):
                setattr(holder, name, depth)
    return cut


def _per_layer(name: str, value, full: int) -> bool:
    """Whether a config field looks like one entry per layer of a `full`-layer model."""
    if isinstance(value, str):
        return "pattern" in name and len(value) == full
    return isinstance(value, (list, tuple)) and len(value) == full


# Integer fields that place some layers without "layer" in their name.
LAYER_INDEX_FIELDS = ("first_k_dense_replace",)
# Words in the names of lists of layer indices (qwen3_vl's `deepstack_visual_indexes`, qwen2_5_vl's
# `fullatt_block_indexes`, a backbone's `out_indices`, zamba2's `hybrid_layer_ids`).
LAYER_LIST_WORDS = ("layer", "index", "indices", "indexes", "block")


def layers_placed_beyond(config, shallowest: int) -> list[str]:
    """The fields of `config` and its sub-configs, other than its depth, that place layers past the
    first `shallowest`: an integer between it and the depth (`first_k_dense_replace = 7`, jamba's
    `attn_layer_period = 8`, fun_asr_nano's `num_timestamp_prediction_layers = 20`), or a list of
    layer indices that reaches it (qwen3_vl's `deepstack_visual_indexes = [8, 16, 24]`). Cuts of 2, 4
    and 6 layers of such a config can lie on one line that misses those layers (qwen3_vl's vision
    tower by 19%, `benchmarks/counting.py`), so `counting._on_cpu_by_depth` counts the whole model."""
    full = depth_of(config) or 0
    placed = []
    for holder in _configs(config):
        for name, value in vars(holder).items():
            if name in DEPTH_FIELDS:
                continue
            if _integer(value) and ("layer" in name or name in LAYER_INDEX_FIELDS) and shallowest < value < full:
                placed.append(name)
            elif any(word in name for word in LAYER_LIST_WORDS) and _indices(value, full) and max(value) >= shallowest:
                placed.append(name)
    return placed


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _indices(value, full: int) -> bool:
    """A non-empty list or tuple of integers that is not one entry per layer."""
    return isinstance(value, (list, tuple)) and bool(value) and len(value) != full and all(map(_integer, value))
