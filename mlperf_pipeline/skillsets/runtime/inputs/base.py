"""What every input builder shares: the registry of builders by input name, the context they
build from, which inputs a model wants, and `make_inputs`, which builds them and places the
image placeholder tokens a vision-language model's text needs."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from mlperf_pipeline.skillsets.runtime.build import SEED, SkillsetInfo, torch_dtype
from mlperf_pipeline.skillsets.runtime.introspect import image_encoder_owner, model_dtype, required_parameters
from mlperf_pipeline.skillsets.runtime.lookups import (
    MEL_DIMS,
    effective_seq_len,
    find,
    has_vision_tower,
    image_token_id,
    mel_bins,
    patches_as_images,
    token_ids,
)
from mlperf_pipeline.skillsets.runtime.reasons import UnsupportedInputs

Builder = Callable[["InputContext"], object]
_BUILDERS: dict[str, Builder] = {}


def builds(*names: str) -> Callable[[Builder], Builder]:
    """Register the decorated function as the builder of each forward input in `names`."""
    if not names:
        raise ValueError("a builder must name at least one input")

    def register(builder: Builder) -> Builder:
        for name in names:
            existing = _BUILDERS.get(name)
            if existing is not None:
                raise ValueError(f"input {name!r} already has a builder: {existing.__module__}.{existing.__qualname__}")
        _BUILDERS.update(dict.fromkeys(names, builder))
        return builder

    return register


def has_builder(name: str) -> bool:
    return name in _BUILDERS


def registered_inputs() -> frozenset[str]:
    """Every input name some builder makes."""
    return frozenset(_BUILDERS)


class InputContext:
    """What a builder reads: the model, its config and catalog info, the batch size and sequence
    length asked for, and the seeded generator every random input draws from, in build order."""

    def __init__(self, model, info: SkillsetInfo, batch_size: int, seq_len: int, generator):
        self.model, self.config, self.info = model, model.config, info
        self.batch, self.seq_len, self.generator = batch_size, seq_len, generator

    def make(self, name: str):
        builder = _BUILDERS.get(name)
        if builder is None:
            raise UnsupportedInputs(f"{self.info.model_class}.forward needs {name!r}, which no input builder makes")
        return builder(self)

    def accepts(self, name: str) -> bool:
        """Whether the model's forward has a parameter `name`."""
        return name in inspect.signature(self.model.forward).parameters

    def randn(self, *shape):
        import torch

        return torch.randn(shape, generator=self.generator)

    def ones(self, *shape):
        import torch

        return torch.ones(shape, dtype=torch.long)


def documented_tensor(ctx: InputContext, dims):
    """A float tensor of the shape the forward's docstring gives, sizes read from the config."""
    sizes = []
    for dim in dims:
        if dim == "batch_size":
            sizes.append(ctx.batch)
        elif dim.isdigit():
            sizes.append(int(dim))
        elif dim in MEL_DIMS:
            sizes.append(mel_bins(ctx.config))
        else:
            value = find(ctx.config, dim.removeprefix("config."), prefer=())
            sizes.append(value if isinstance(value, int) and not isinstance(value, bool) else max(1, ctx.seq_len // 8))
    return ctx.randn(*sizes)


# ---- which inputs a model wants ----

# Inputs made for a vision tower run alone: a composite model pairs them with image tokens in
# its text (MiniCPM-V's `target_sizes`), which the placeholder pass cannot yet provide.
_TOWER_ONLY_INPUTS = ("target_sizes",)

# Inputs that are optional in the signature but that the forward pass needs together.
_COMPANIONS = {
    "image_grid_thw": "pixel_values",
    "image_grid_hw": "pixel_values",
    "pixel_attention_mask": "pixel_values",
    "spatial_shapes": "pixel_values",
    "qformer_input_ids": "pixel_values",
    "aspect_ratio_ids": "pixel_values",
    "aspect_ratio_mask": "pixel_values",
    "cross_attention_mask": "pixel_values",
    "image_embeds_position_mask": "pixel_values",
    "image_attention_mask": "pixel_values",
    "actions": "states",
    "rewards": "states",
    "returns_to_go": "states",
    "timesteps": "states",
    "encoder_hidden_states": "query_embeds",
    "bbox": "input_ids",
    "visual_feats": "input_ids",
    "visual_pos": "input_ids",
    "input_features_mask": "input_features",
}


def _wanted_inputs(model, info: SkillsetInfo) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    wanted = list(main) if isinstance(main, (list, tuple)) else [main]  # OneFormer: image and task
    if not set(wanted) & accepted.keys() and "input_ids" in accepted:
        wanted = ["input_ids"]  # a text tower that inherited its composite model's main input name
        main = "input_ids"
    if info.modality in ("image-text", "video") and "input_ids" in accepted:
        wanted += ["input_ids", "pixel_values"] if has_vision_tower(model.config) else ["input_ids"]
    if (
        main == "input_ids"
        and "pixel_values" in accepted
        and (getattr(model.config, "vision_config", None) or getattr(model.config, "backbone_config", None))
    ):
        wanted.append("pixel_values")  # text plus a vision tower, whatever the catalog's modality (TVP)
    if "attention_mask" in accepted and main == "input_ids":
        wanted.append("attention_mask")
    if getattr(model.config, "is_encoder_decoder", False) and "decoder_input_ids" in accepted:
        wanted.append("decoder_input_ids")
    wanted += [name for name in required_parameters(model.forward) if name != "self"]
    wanted += [extra for extra, partner in _COMPANIONS.items() if partner in wanted]
    if "pixel_values" in wanted and "input_ids" not in accepted:
        wanted.append("target_sizes")  # a MiniCPM tower alone needs each image's patch grid
    if "pixel_values" in wanted and callable(getattr(model, "get_image_features", None)):
        # What the image encoder cannot do without (image sizes, grids) the forward needs too.
        wanted += [
            name
            for name in required_parameters(model.get_image_features)
            if name not in ("self", "pixel_values", *_TOWER_ONLY_INPUTS) and has_builder(name)
        ]
    if getattr(model.config, "image_grid_pinpoints", None) and "pixel_values" in wanted:
        wanted.append("image_sizes")  # any-resolution tiling needs each image's size
    return [name for name in dict.fromkeys(wanted) if name in accepted]


def make_inputs(
    model, info: SkillsetInfo, batch_size: int = 1, seq_len: int = 128, device: str = "cpu", dtype: str = "float32"
) -> dict:
    """Valid random inputs for the model's modality; float inputs take the model's dtype.

    Text inputs use `effective_seq_len`: the stored row records the length actually used.
    """
    import torch

    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be positive, got {batch_size} and {seq_len}")
    seq_len = effective_seq_len(model.config, seq_len)
    context = InputContext(model, info, batch_size, seq_len, torch.Generator().manual_seed(SEED))
    inputs = {name: context.make(name) for name in _wanted_inputs(model, info)}
    inputs = {
        name: value.to(dtype=model_dtype(model)) if value.is_floating_point() else value
        for name, value in inputs.items()
    }
    try:
        _place_image_tokens(model, inputs)
    except (RuntimeError, ValueError):
        patches = patches_as_images(model.config, inputs.get("pixel_values"))
        if patches is None:
            raise
        inputs["pixel_values"] = patches  # the same patches, each as a small image
        _place_image_tokens(model, inputs)
    return {
        name: value.to(device=device, dtype=torch_dtype(dtype)) if value.is_floating_point() else value.to(device)
        for name, value in inputs.items()
    }


# ---- image placeholder tokens in the text ----


def _image_feature_count(model, inputs: dict) -> int | None:
    """How many placeholder tokens the images fill: ask the model's own image encoder."""
    import torch

    get_features = getattr(model, "get_image_features", None)
    if get_features is None:
        return _query_token_count(model.config, inputs)
    accepted = inspect.signature(get_features).parameters
    missing = [name for name in required_parameters(get_features) if name != "self" and name not in inputs]
    if missing:  # processor-made layouts (Molmo2's token pooling indices) that no builder makes
        raise UnsupportedInputs(
            f"{type(model).__name__}.get_image_features needs {', '.join(map(repr, missing))}, which no input builder makes"
        )
    kwargs = {name: value for name, value in inputs.items() if name in accepted}
    with torch.no_grad():
        features = output = get_features(**kwargs)
    if not isinstance(features, torch.Tensor):
        features = getattr(features, "pooler_output", None) if hasattr(features, "pooler_output") else features
        if features is None:  # encoders that hand back the vision tower's output as it is (Llama4)
            features = getattr(output, "last_hidden_state", None)
    tensors = (
        [features]
        if isinstance(features, torch.Tensor)
        else [t for t in (features or ()) if isinstance(t, torch.Tensor)]
    )
    # One row per placeholder token, whatever the layout: (tokens, dim) or (batch, tokens, dim).
    rows = sum(tensor.numel() // tensor.shape[-1] for tensor in tensors if tensor.dim() >= 2)
    return rows // len(inputs["input_ids"]) if rows else None


def _query_token_count(config, inputs: dict) -> int | None:
    """Q-Former models (InstructBLIP-Video) give `num_query_tokens` features per image or frame."""
    queries = getattr(config, "num_query_tokens", None)
    if not isinstance(queries, int):
        return None
    pixels = inputs["pixel_values"]
    return queries * (pixels.shape[1] if pixels.dim() == 5 else 1)


def _place_image_tokens(model, inputs: dict) -> None:
    """Put as many image placeholder tokens in input_ids as the images produce features."""
    import torch

    owner = image_encoder_owner(model)
    token = image_token_id(owner.config) if image_token_id(owner.config) is not None else image_token_id(model.config)
    if token is None or "pixel_values" not in inputs or "input_ids" not in inputs:
        return
    count = _image_feature_count(owner, inputs)
    if not count:
        return
    ids = inputs["input_ids"]
    if ids.shape[1] < count + 2:  # the text must hold the whole image plus a little text
        extra = token_ids(model.config, ids.shape[0], count + 2 - ids.shape[1], torch.Generator().manual_seed(SEED))
        ids = torch.cat([ids, extra], dim=1)
    ids[:, 1 : 1 + count] = token
    inputs["input_ids"] = ids
    for name in ("attention_mask", "token_type_ids"):
        if name in inputs:
            inputs[name] = torch.ones_like(ids) if name == "attention_mask" else torch.zeros_like(ids)
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        inputs["mm_token_type_ids"] = (ids == token).long()  # text 0, image 1 (multimodal RoPE)
