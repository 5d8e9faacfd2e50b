"""Passes for mixture-of-experts and state-space (Mamba, xLSTM) configs: expert counts, groups and
routers, SSM head splits, and the defaults these families leave unset or inconsistent."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import (
    DIM_FACTOR_MULTIPLE,
    EXPERT_FIELDS,
    TINY_EXPERTS,
    TINY_EXPERTS_PER_TOKEN,
    TINY_FFN,
    TINY_HEADS,
    TINY_INDEXER_BUDGET,
    TINY_INDEXER_COMPRESS_RATIO,
    TINY_KV_HEADS,
    TOP_K_FIELDS,
)
from mlperf_pipeline.skillsets.shrink.lookups import config_class, first_int, is_plain_int
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fill_mlp_layer_types(original: dict, config: dict) -> None:
    """DeepSeek-style MoE configs that leave `mlp_layer_types` unset (DeepSeek-OCR-2's text model
    indexes it): dense for the first `first_k_dense_replace` layers, sparse after, as they mean."""
    layers = first_int(config, ("num_hidden_layers", "num_layers"))
    if "mlp_layer_types" not in config or config["mlp_layer_types"] is not None or not layers:
        return
    dense = config.get("first_k_dense_replace") or 0
    experts = first_int(config, sorted(EXPERT_FIELDS))
    config["mlp_layer_types"] = ["dense" if index < dense or not experts else "sparse" for index in range(layers)]


@shrink_pass
def fill_experts_per_token(original: dict, config: dict) -> None:
    """MoE defaults that leave the experts per token unset (DeepSeek-OCR-2's router takes top-k of it)."""
    experts = first_int(config, sorted(EXPERT_FIELDS))
    if experts and "num_experts_per_tok" in config and config["num_experts_per_tok"] is None:
        config["num_experts_per_tok"] = min(TINY_EXPERTS_PER_TOKEN, experts)


@shrink_pass
def fit_ssm_heads(original: dict, config: dict) -> None:
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


@shrink_pass
def fit_expert_groups(original: dict, config: dict) -> None:
    """Group-limited routing splits the experts into `n_group` groups: one group of the few left."""
    experts = first_int(config, sorted(EXPERT_FIELDS))
    if experts is None:
        return
    for name in ("n_group", "topk_group", "num_expert_group", "topk_groups"):
        if isinstance(config.get(name), int) and not isinstance(config.get(name), bool) and config[name] > 1:
            config[name] = 1


@shrink_pass
def fill_missing_experts(original: dict, config: dict) -> None:
    """MoE defaults may leave the expert count, top-k, shared experts or expert width unset for a
    checkpoint to fill, while the model still builds its router from them: give them tiny values,
    unless a switch (`enable_moe_block`, `use_moe`) turns the MoE block off."""
    if any(value is False and name.startswith(("enable_", "use_")) and "moe" in name for name, value in config.items()):
        return
    counts = EXPERT_FIELDS & config.keys()
    if not counts:
        return
    for name in counts:
        if config[name] is None:
            config[name] = TINY_EXPERTS
    if first_int(config, sorted(counts)) is None:
        return
    for name in TOP_K_FIELDS & config.keys():
        if config[name] is None:
            config[name] = TINY_EXPERTS_PER_TOKEN
    if "n_shared_experts" in config and config["n_shared_experts"] is None:
        config["n_shared_experts"] = 1
    if "moe_intermediate_size" in config and config["moe_intermediate_size"] is None:
        config["moe_intermediate_size"] = TINY_FFN


@shrink_pass
def fill_indexer_sizes(original: dict, config: dict) -> None:
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


@shrink_pass
def follow_derived_aliases(original: dict, config: dict) -> None:
    """A field the config class leaves None and derives from another (xLSTM's `embedding_dim` from
    `hidden_size`, `num_blocks` from `num_hidden_layers`) keeps the default's full value in the
    dict: where the source shrank, the alias follows it. Checked by building the config class with
    only the source changed."""
    cls = config_class(original.get("model_type"))
    fields = getattr(cls, "__dataclass_fields__", None)
    if not fields:
        return
    changed = {
        name: value
        for name, value in config.items()
        if is_plain_int(original.get(name)) and is_plain_int(value) and value != original[name]
    }
    for name, field in fields.items():
        if (
            field.default is not None
            or name in changed
            or not is_plain_int(original.get(name))
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


@shrink_pass
def fit_mamba_heads(original: dict, config: dict) -> None:
    """Hybrid Mamba2 blocks (Bamba, GraniteMoeHybrid) split `mamba_expand` × width into `mamba_n_heads`
    heads of `mamba_d_head`: a default of 128 heads over a tiny width makes heads of one channel
    and a forward of seconds, so the head count follows the tiny width instead."""
    width, expand, head = config.get("hidden_size"), config.get("mamba_expand"), config.get("mamba_d_head")
    heads = config.get("mamba_n_heads")
    if "mamba_d_ssm" in config or not all(is_plain_int(value) and value > 0 for value in (width, expand, head, heads)):
        return
    if (width * expand) % head == 0 and heads * head != width * expand:
        config["mamba_n_heads"] = width * expand // head
        groups = config.get("mamba_n_groups")
        if is_plain_int(groups) and groups and config["mamba_n_heads"] % groups:
            config["mamba_n_groups"] = 1


@shrink_pass
def fit_dim_factors(original: dict, config: dict) -> None:
    """xLSTM sizes its q/k and v heads as width × `*_dim_factor`, rounded up to a multiple of 64 in
    some places and not in others: where the default width made both agree, the tiny one must too."""
    factors = [
        value
        for name, value in config.items()
        if name.endswith("_dim_factor") and isinstance(value, float) and value > 0
    ]
    width, full = config.get("hidden_size"), original.get("hidden_size")
    if not factors or not is_plain_int(width) or not is_plain_int(full) or width == full:
        return

    def aligned(size):
        return all((size * factor) % DIM_FACTOR_MULTIPLE == 0 for factor in factors)

    if aligned(full) and not aligned(width):
        config["hidden_size"] = next((size for size in range(width, full + 1, width) if aligned(size)), full)
