"""Passes for multimodal models: projections and adapters between towers follow the towers' tiny
widths, image placeholders and pooled image tokens fit the tiny vision tower."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import ADAPTER_WIDTH_WORDS, PLACEHOLDER_TOWERS, TEXT_CONFIG_NAMES
from mlperf_pipeline.skillsets.shrink.lookups import (
    first_int,
    free_token_ids,
    has_image_placeholder,
    is_int_list,
    is_plain_int,
    modeling_source,
    names_layer_indices,
    text_vocab,
    tower_width,
)
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fit_projection_widths(original: dict, config: dict) -> None:
    """A `projection_dim` that equals the text width in the default projects image features into
    the text model (PaliGemma, Florence-2): it follows the shrunk text width. A top-level one that
    equals no tower's width is fixed by the towers' design (ALIGN projects text onto the vision
    tower's output channels): it keeps its default. A vision tower's `projection_dim` in a model
    that splices image features into the text at placeholder tokens follows the text width too."""
    text_name = next((name for name in TEXT_CONFIG_NAMES if isinstance(config.get(name), dict)), None)
    if text_name is None:
        return
    old_text, new_text = tower_width(original.get(text_name)), tower_width(config[text_name])
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
        if value == old_text or (default is original.get("vision_config") and has_image_placeholder(original)):
            place["projection_dim"] = new_text
        elif place is config and value not in {tower_width(tower) for tower in towers}:
            place["projection_dim"] = value


@shrink_pass
def fit_concatenated_layer_width(original: dict, config: dict) -> None:
    """Towers that concatenate the states of chosen layers with the last one (Mllama's
    `intermediate_layers_indices`) output width × (layers chosen + 1): keep that product."""
    old_width, new_width = original.get("hidden_size"), config.get("hidden_size")
    for name, indices in original.items():
        if not names_layer_indices(name) or not is_int_list(indices) or not is_int_list(config.get(name)):
            continue
        for field, value in original.items():
            if (
                field.endswith("output_dim")
                and isinstance(value, int)
                and isinstance(old_width, int)
                and value == old_width * (len(indices) + 1)
            ):
                config[field] = new_width * (len(config[name]) + 1)


@shrink_pass
def fit_vision_feature_layers(original: dict, config: dict) -> None:
    """`vision_feature_layer(s)` (here or in an adapter sub-config) pick layers of the vision tower
    by index: after the shrink they must index layers that still exist (VipLLaVA, Molmo2)."""
    vision = config.get("vision_config")
    layers = first_int(vision, ("num_hidden_layers", "depth", "num_layers")) if isinstance(vision, dict) else None
    if not layers:
        return
    places = [config] + [value for name, value in config.items() if isinstance(value, dict) and name != "vision_config"]
    for place in places:
        for name in ("vision_feature_layer", "vision_feature_layers"):
            value = place.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                place[name] = max(-layers, min(value, layers - 1))
            elif is_int_list(value):
                place[name] = [max(-layers, min(index, layers - 1)) for index in value]


@shrink_pass
def fit_pixel_shuffle_projector(original: dict, config: dict) -> None:
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


@shrink_pass
def fit_patch_to_query_map(original: dict, config: dict) -> None:
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


@shrink_pass
def fit_vision_output_widths(original: dict, config: dict) -> None:
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
    if is_int_list(vision.get("merge_kernel_size")):
        factors.add(vision["merge_kernel_size"][0] * vision["merge_kernel_size"][-1])
    for name, value in original.items():
        if not name.endswith("_hidden_size") or isinstance(value, bool) or not isinstance(value, int):
            continue
        factor = next((factor for factor in sorted(factors) if value == old * factor), None)
        if factor is not None:
            config[name] = new * factor


@shrink_pass
def fill_unguarded_placeholder_ids(original: dict, config: dict) -> None:
    """A default that leaves a placeholder id unset although its tower is there: models that read
    an unset id as "no such inputs" say so in code (`image_token_id is not None`, MiniCPM-V); the
    others (Nemotron-H Omni) compare token ids with None and fail, so they get a free id."""
    from transformers import CONFIG_MAPPING

    vocab = text_vocab(config)
    unset = [
        name
        for name, tower in PLACEHOLDER_TOWERS.items()
        if name in config and config[name] is None and isinstance(config.get(tower), dict)
    ]
    if not isinstance(vocab, int) or not unset or config.get("model_type") not in CONFIG_MAPPING:
        return
    source = modeling_source(CONFIG_MAPPING[config["model_type"]]) or ""
    unset = [name for name in unset if f"{name} is not None" not in source]
    free = free_token_ids(config, vocab)
    for name in unset:
        config[name] = next(free)


@shrink_pass
def fill_image_placeholder(original: dict, config: dict) -> None:
    """BLIP-2-style defaults leave the image placeholder id unset, and their forward then finds no
    image tokens: give it the last id of the text vocabulary (the tiny one, after the shrink)."""
    vocab = text_vocab(config)
    if not isinstance(vocab, int) or "num_query_tokens" not in config:
        return
    for name in ("image_token_index", "image_token_id", "video_token_index", "video_token_id"):
        if name in config and config[name] is None:
            config[name] = vocab - 1


@shrink_pass
def fit_pooled_image_tokens(original: dict, config: dict) -> None:
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


@shrink_pass
def follow_adapter_widths(original: dict, config: dict) -> None:
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
            name for name in sub if isinstance(name, str) and any(word in name for word in ADAPTER_WIDTH_WORDS)
        ]:
            if not is_plain_int(full.get(name)) or sub[name] != full[name]:
                continue
            if full[name] == full.get("hidden_size") and is_plain_int(sub.get("hidden_size")):
                sub[name] = sub["hidden_size"]
            elif full[name] == full_text_width and is_plain_int(text_width) and key != "text_config":
                sub[name] = text_width


@shrink_pass
def follow_sibling_tower_widths(original: dict, config: dict) -> None:
    """A sub-config's `hidden_size_<tower>` is the width of its sibling `<tower>_config` (BLT's local
    encoder and decoder read the global transformer's width): it follows that tower's tiny width."""
    for sub in config.values():
        if not isinstance(sub, dict) or "model_type" not in sub:
            continue
        for name in [key for key in sub if isinstance(key, str) and key.startswith("hidden_size_")]:
            tower = config.get(name[len("hidden_size_") :] + "_config")
            if isinstance(tower, dict) and is_plain_int(tower.get("hidden_size")) and is_plain_int(sub[name]):
                sub[name] = tower["hidden_size"]
