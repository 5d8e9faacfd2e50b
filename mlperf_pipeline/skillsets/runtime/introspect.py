"""Model introspection: what a model's forward signature, docstring, source and first layers say
about the inputs it takes."""

from __future__ import annotations

import inspect
import re


def required_parameters(forward) -> list[str]:
    parameters = inspect.signature(forward).parameters.values()
    return [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def documented_dims(model, name: str) -> tuple[str, ...] | None:
    """The dimension names the forward's docstring gives an input: `name (`...` of shape `(a, b)`)`."""
    shapes = documented_shapes(model, name)
    return shapes[0] if shapes else None  # the first shape where several are given


def documented_shapes(model, name: str) -> list[tuple[str, ...]]:
    """Every shape the docstring allows for an input: `of shape `(a, b)` or (a, c, b)``."""
    doc = getattr(model.forward, "__doc__", None) or ""
    found = re.search(rf"\n\s*{re.escape(name)} \(`[^`]*` of shape `([^`]*)`", doc)
    if not found:
        return []
    return [
        tuple(dim.strip() for dim in shape.split(",") if dim.strip())
        for shape in re.findall(r"\(([^()]*)\)", found.group(1))
    ]


def model_dtype(model):
    import torch

    parameter = next(model.parameters(), None)
    return parameter.dtype if parameter is not None else torch.float32


def first_linear_width(model) -> int | None:
    """The input width of the model's first module with weights, where that is a linear layer."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            return module.in_features
        if any(True for _ in module.parameters(recurse=False)):
            return None
    return None


def first_conv1d(model):
    """The model's first module with weights, where that is a 1-d convolution."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Conv1d):
            return module
        if any(True for _ in module.parameters(recurse=False)):
            return None
    return None


def image_encoder_owner(model):
    """The module that encodes images: the model itself, or the first inner model that can
    (classifier and retrieval heads, encoder-decoder encoders wrap the vision-language model)."""
    if callable(getattr(model, "get_image_features", None)):
        return model
    for module in model.modules():
        if callable(getattr(module, "get_image_features", None)) and hasattr(module, "config"):
            return module
    return model


# ---- how a vision tower wants its images ----


def uses_patch_grid(model) -> bool:
    parameters = inspect.signature(model.forward).parameters
    return any(name in parameters for name in ("image_grid_thw", "grid_thw", "image_grid_hw"))


def takes_spatial_shapes(model) -> bool:
    """NaFlex-style towers (Siglip2, LFM2-VL) take patches flattened with each image's grid."""
    return "spatial_shapes" in inspect.signature(model.forward).parameters


def patch_layout(model) -> str:
    """How a grid-taking tower wants its patches: flattened rows (Qwen-VL, the default), pixel
    blocks per merged token (its forward documents `patch_size * spatial_merge_size` sides), or
    small images when the patch embedding is a 2D conv applied to the input as it comes."""
    import torch

    doc = type(model).forward.__doc__ or ""
    if "patch_size * spatial_merge_size, patch_size * spatial_merge_size, num_channels" in doc:
        return "merged_pixels"
    owner, first_conv = next(
        (
            (parent, module)
            for parent in model.modules()
            for module in parent.children()
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d))
        ),
        (None, None),
    )
    if (
        not isinstance(first_conv, torch.nn.Conv2d)
        or first_conv.kernel_size != first_conv.stride
        or first_conv.kernel_size[0] < 2
    ):
        return "flat"
    try:
        source = inspect.getsource(type(owner).forward)
    except (OSError, TypeError):
        return "flat"
    # An embedding that reshapes its input first (HunYuan-VL, VideoLLaMA3) takes flat rows.
    reshapes = re.search(r"=\s*(?:pixel_values|hidden_states)\.(?:reshape|view)\(", source)
    return "flat" if reshapes else "patch_images"


def takes_image_pairs(model) -> bool:
    """Keypoint matchers (SuperGlue, LightGlue, EfficientLoFTR) take two images per example and say
    so in the check their forward makes."""
    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return False
    return "(batch_size, 2, num_channels, height, width)" in source


def embeds_patches_linearly(model, patch_values: int) -> bool:
    """Fuyu has no vision tower: a linear layer embeds each flattened patch, so the images come
    as (batch, patches, channels × patch × patch)."""
    import torch

    return any(
        isinstance(module, torch.nn.Linear) and module.in_features == patch_values and "vision_embed" in name
        for name, module in model.named_modules()
    )


def mask_per_tile(model) -> bool:
    """Whether the model documents `pixel_attention_mask` as one flag per tile, `(batch_size, num_tiles)`."""
    for method in (getattr(model, "get_image_features", None), model.forward):
        doc = (inspect.getdoc(method) or "") if callable(method) else ""
        entry = doc.partition("pixel_attention_mask (")[2].split("\n", 1)[0]
        if "(batch_size, num_tiles)" in entry:
            return True
    return False


def takes_tiles(model) -> bool:
    """Tiled towers (Mllama) select tile embeddings by each image's aspect ratio id."""
    return "aspect_ratio_ids" in inspect.signature(model.forward).parameters


def takes_image_lists(model) -> bool:
    """Idefics-style models take (batch, images, channels, height, width) with a pixel mask."""
    return "pixel_attention_mask" in inspect.signature(model.forward).parameters
