"""Passes for rotary embeddings: multimodal sections fit the tiny head size, and rotary settings
exist where a model reads them per layer type or from an attention sub-config."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import HEAD_FIELDS, WIDTH_FIELDS
from mlperf_pipeline.skillsets.shrink.lookups import config_class, first_int, is_int_list, modeling_source
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fit_rope_sections(original: dict, config: dict) -> None:
    """Multimodal rotary sections must add up to half the (shrunk) head size."""
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int):
        width, heads = first_int(config, sorted(WIDTH_FIELDS)), first_int(config, sorted(HEAD_FIELDS))
        head_dim = width // heads if width and heads else None
    rope = config.get("rope_parameters") or config.get("rope_scaling")
    if head_dim and isinstance(rope, dict):
        if _uses_multimodal_rope(config.get("model_type")) and "mrope_section" not in rope:
            # the model's fallback sections fit only the full head size: start from their proportions
            rope["mrope_section"] = _fallback_sections(config.get("model_type")) or [0, 0, 0]
        partial = rope.get("partial_rotary_factor") or config.get("partial_rotary_factor") or 1.0
        for key in ("mrope_section", "mrope_sections"):
            if is_int_list(rope.get(key)):
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
        source = modeling_source(CONFIG_MAPPING[model_type])
    except KeyError:
        return None
    found = re.search(r'\.get\("mrope_section",\s*\[([\d,\s]+)\]\)', source or "")
    return [int(value) for value in found.group(1).split(",") if value.strip()] if found else None


def _falls_back_to_default_sections(config_class) -> bool:
    """Models whose code reads `mrope_section` with a full-size fallback (PaddleOCR-VL) need it set."""
    return '.get("mrope_section",' in (modeling_source(config_class) or "")


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


@shrink_pass
def fill_rope_per_layer_type(original: dict, config: dict) -> None:
    """Rotary settings left empty where the model reads them per layer type: the default rotary
    embedding for each kind (its theta from the config class), multimodal sections fitted."""
    types = config.get("layer_types")
    if (
        config.get("rope_parameters") != {}
        or not isinstance(types, list)
        or not all(isinstance(kind, str) for kind in types)
    ):
        return
    theta = getattr(config_class(config.get("model_type")), "default_theta", None) or 10_000.0
    rope = {kind: {"rope_type": "default", "rope_theta": theta} for kind in dict.fromkeys(types)}
    head_dim = config.get("head_dim")
    if not isinstance(head_dim, int):
        width, heads = first_int(config, sorted(WIDTH_FIELDS)), config.get("num_attention_heads")
        head_dim = width // heads if isinstance(width, int) and isinstance(heads, int) and heads else None
    if head_dim and _uses_multimodal_rope(config.get("model_type")):
        for entry in rope.values():
            entry["mrope_section"] = _split_evenly(head_dim // 2, 3)
    config["rope_parameters"] = rope


@shrink_pass
def share_rope_theta_with_attention(original: dict, config: dict) -> None:
    """Attention sub-configs (DBRX's `attn_config`) that the attention module reads `rope_theta` from,
    though their class does not define it: give them the model's rotary base."""
    rope = config.get("rope_parameters")
    theta = rope.get("rope_theta") if isinstance(rope, dict) else None
    for name in ("attn_config", "attention_config"):
        sub = config.get(name)
        if theta is not None and isinstance(sub, dict) and "rope_theta" not in sub:
            sub["rope_theta"] = theta
