"""Passes for attention: heads divide widths, kv heads group only where the default groups, latent
attention head sizes agree, and the cache and q/k/v clipping work at tiny size."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import (
    HEAD_FIELDS,
    KV_HEAD_FIELDS,
    LINEAR_LAYER_KINDS,
    TINY_QKV_CLIP,
    WIDTH_FIELDS,
)
from mlperf_pipeline.skillsets.shrink.lookups import config_class, first_int, is_plain_int
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fill_missing_head_sizes(original: dict, config: dict) -> None:
    """Some defaults leave `head_dim` or the kv-head count as None, which their models divide by."""
    width, heads = first_int(config, sorted(WIDTH_FIELDS)), config.get("num_attention_heads")
    if not isinstance(width, int) or not isinstance(heads, int) or not heads:
        return
    if "head_dim" in config and config["head_dim"] is None:
        config["head_dim"] = width // heads
    if "num_key_value_heads" in config and config["num_key_value_heads"] is None:
        config["num_key_value_heads"] = heads


@shrink_pass
def match_mla_head_dims(original: dict, config: dict) -> None:
    """DeepSeek-style attention: head_dim is the rotary part, qk_head_dim the sum of both parts."""
    if "qk_rope_head_dim" not in config:
        return
    if original.get("head_dim") == original.get("qk_rope_head_dim"):
        config["head_dim"] = config["qk_rope_head_dim"]
    if "qk_head_dim" in config and "qk_nope_head_dim" in config:
        config["qk_head_dim"] = config["qk_nope_head_dim"] + config["qk_rope_head_dim"]


@shrink_pass
def keep_heads_dividing_width(original: dict, config: dict) -> None:
    for width_field in WIDTH_FIELDS & config.keys():
        for head_field in HEAD_FIELDS & config.keys():
            width, heads = config[width_field], config[head_field]
            if isinstance(width, int) and isinstance(heads, int) and heads and width % heads:
                config[head_field] = 1


@shrink_pass
def keep_kv_heads_dividing_heads(original: dict, config: dict) -> None:
    """Grouped-query only where the default groups too: many models (MLA, ESM) assume kv == heads."""
    heads = config.get("num_attention_heads")
    for field in KV_HEAD_FIELDS & config.keys():
        kv_heads = config[field]
        if not isinstance(heads, int) or not isinstance(kv_heads, int):
            continue
        if original.get(field) == original.get("num_attention_heads"):
            config[field] = heads
        elif kv_heads and heads % kv_heads:
            config[field] = 1


@shrink_pass
def skip_cache_without_attention(original: dict, config: dict) -> None:
    """Run without the cache where the library cannot build or read it: hybrid models (attention
    heads configured) whose default layers are all linear attention hold no attention layer in it,
    so their forward cannot read positions from it (Bamba, GraniteMoeHybrid); and a text config
    without a layer count (BLT keeps its layers in sub-configs) gives the cache nothing to size."""
    if config.get("use_cache") is not True:
        return
    cls = config_class(original.get("model_type"))
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
    if kinds and all(isinstance(kind, str) for kind in kinds) and kinds <= LINEAR_LAYER_KINDS:
        config["use_cache"] = False
    elif not is_plain_int(getattr(text, "num_hidden_layers", None)):
        config["use_cache"] = False


@shrink_pass
def bound_attention_clipping(original: dict, config: dict) -> None:
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
