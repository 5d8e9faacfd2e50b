"""Readers shared by the passes: typed field look-ups, token ids, layer counts, tower widths, and
the library's own config classes and modeling sources (read, never executed)."""

from __future__ import annotations

from collections.abc import Iterator

from mlperf_pipeline.skillsets.shrink.fields import TOKEN_ID_SUFFIXES, TOWER_WIDTH_NAMES


def is_int_list(values) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, int) and not isinstance(value, bool) for value in values)
    )


def tower_width(config) -> int | None:
    return first_int(config, TOWER_WIDTH_NAMES) if isinstance(config, dict) else None


def has_image_placeholder(config: dict) -> bool:
    """Models that splice image features into the text at placeholder tokens (their vision
    projection must come out at the text width, whatever an inconsistent default says)."""
    return any(is_token_id(name, config.get(name)) for name in ("image_token_id", "image_token_index"))


def text_vocab(config: dict) -> int | None:
    for place in (config, config.get("text_config"), config.get("decoder"), config.get("decoder_config")):
        if isinstance(place, dict) and isinstance(place.get("vocab_size"), int):
            return place["vocab_size"]
    return None


def free_token_ids(config: dict, vocab: int) -> Iterator[int]:
    """Ids below `vocab` that no token id of the config or its text tower uses, highest first."""
    places = [config] + [
        config[name] for name in ("text_config", "decoder", "llm_config") if isinstance(config.get(name), dict)
    ]
    used = {value for place in places for name, value in place.items() if is_token_id(name, value)}
    return (candidate for candidate in range(vocab - 1, 0, -1) if candidate not in used)


def is_token_id(name: str, value) -> bool:
    return name.endswith(TOKEN_ID_SUFFIXES) and isinstance(value, int) and not isinstance(value, bool)


def layer_count_field(config: dict) -> str | None:
    for name in ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "depth"):
        if isinstance(config.get(name), int) and not isinstance(config.get(name), bool):
            return name
    return None


def as_index(key) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return int(key) if isinstance(key, str) and key.isdigit() else None


def names_layer_indices(name: str) -> bool:
    words = ("layer_ids", "layer_idx", "layers_idx", "layer_indices", "_layers", "block_indexes", "layer_indexes")
    return any(word in name for word in words) and "num_" not in name


def first_int(config: dict, names) -> int | None:
    return next(
        (
            config[name]
            for name in names
            if isinstance(config.get(name), int) and not isinstance(config.get(name), bool)
        ),
        None,
    )


def modeling_source_of_type(model_type) -> str:
    from transformers import CONFIG_MAPPING

    try:
        return modeling_source(CONFIG_MAPPING[model_type]) or ""
    except (KeyError, TypeError):
        return ""


def modeling_source(config_class) -> str | None:
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


def config_class(model_type):
    from transformers import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        return None


def is_plain_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
