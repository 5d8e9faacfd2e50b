"""Image and video inputs: pixels in the layout each kind of vision tower takes, and the patch
grids, sizes and masks that go with them."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds
from mlperf_pipeline.skillsets.runtime.introspect import (
    embeds_patches_linearly,
    first_conv1d,
    image_encoder_owner,
    mask_per_tile,
    patch_layout,
    takes_image_lists,
    takes_image_pairs,
    takes_spatial_shapes,
    takes_tiles,
    uses_patch_grid,
)
from mlperf_pipeline.skillsets.runtime.lookups import (
    DEFAULT_AUDIO_SAMPLES_PER_TOKEN,
    any_resolution_patches,
    find,
    image_shape,
    max_tiles,
    native_patches_side,
    patch_grid,
    whole_hops,
)

# Frames per clip where a video model's config does not say (InstructBLIP-Video's processor takes 4).
_DEFAULT_VIDEO_FRAMES = 4


@builds("pixel_values")
def pixel_values(ctx: InputContext):
    """The first layout the model's forward or config asks for; plain (batch, channels, height, width) else."""
    for layout in _PATCH_LAYOUTS:
        pixels = layout(ctx)
        if pixels is not None:
            return pixels
    shape = image_shape(image_encoder_owner(ctx.model).config)  # a wrapped model's own tower
    for layout in _IMAGE_LAYOUTS:
        pixels = layout(ctx, shape)
        if pixels is not None:
            return pixels
    return ctx.randn(ctx.batch, *shape)


# ---- layouts read from the model's own config ----


def _prompt_and_image_halves(ctx: InputContext):
    """SegGPT stacks the prompt over the image: half the height each."""
    if not ctx.accepts("prompt_pixel_values"):
        return None
    channels, height, width = image_shape(ctx.config)
    return ctx.randn(ctx.batch, channels, height // 2, width)


def _patch_values(config) -> int:
    """How many values one flattened patch holds: channels × patch × patch."""
    channels, patch = image_shape(config)[0], find(config, "patch_size", default=16)
    return channels * patch * patch


def _positioned_patch_rows(ctx: InputContext):
    """Gemma4 towers: patches as rows, their positions given apart (`pixel_position_ids`)."""
    if not ctx.accepts("pixel_position_ids"):
        return None
    values = _patch_values(ctx.config)
    return ctx.randn(ctx.batch, _position_grid_side(ctx) ** 2, values)


def _native_patch_rows(ctx: InputContext):
    """NaFlex towers (Siglip2, LFM2-VL): patches as rows, each image's grid given apart (`spatial_shapes`)."""
    if not takes_spatial_shapes(ctx.model):
        return None
    side = native_patches_side(ctx.config)
    return ctx.randn(ctx.batch, side * side, _patch_values(ctx.config))


def _grid_patches(ctx: InputContext):
    """Qwen-VL style towers that take a patch grid (`image_grid_thw`)."""
    return _flat_patches(ctx) if uses_patch_grid(ctx.model) else None


_PATCH_LAYOUTS = (_prompt_and_image_halves, _positioned_patch_rows, _native_patch_rows, _grid_patches)


# ---- layouts of whole images at the image encoder's (channels, height, width) ----


def _image_pairs(ctx: InputContext, shape):
    """Keypoint matchers: two images per example."""
    return ctx.randn(ctx.batch, 2, *shape) if takes_image_pairs(ctx.model) else None


def _linearly_embedded_patches(ctx: InputContext, shape):
    """Fuyu: (batch, patches, channels × patch × patch) for its linear patch embedding."""
    channels, height, width = shape
    patch = find(ctx.config, "patch_size")
    if not isinstance(patch, int) or not embeds_patches_linearly(ctx.model, channels * patch * patch):
        return None
    return ctx.randn(ctx.batch, (height // patch) * (width // patch), channels * patch * patch)


def _tiles(ctx: InputContext, shape):
    """Mllama: (batch, images, tiles, channels, height, width)."""
    return ctx.randn(ctx.batch, 1, max_tiles(ctx.config), *shape) if takes_tiles(ctx.model) else None


def _image_lists(ctx: InputContext, shape):
    """Idefics-style: (batch, images, channels, height, width), also inside retrieval wrappers."""
    lists = takes_image_lists(ctx.model) or takes_image_lists(image_encoder_owner(ctx.model))
    return ctx.randn(ctx.batch, 1, *shape) if lists or ctx.accepts("image_attention_mask") else None


def _any_resolution_tiles(ctx: InputContext, shape):
    """LLaVA-NeXT: the image tiled into its best-fitting grid plus one overview."""
    if not getattr(ctx.config, "image_grid_pinpoints", None):
        return None
    return ctx.randn(ctx.batch, any_resolution_patches(ctx.config), *shape)


def _video_clip(ctx: InputContext, shape):
    """Video towers: (batch, frames, channels, height, width)."""
    frames = _clip_frames(ctx)
    return ctx.randn(ctx.batch, frames, *shape) if frames is not None else None


def _clip_frames(ctx: InputContext) -> int | None:
    """Frames per clip where the model takes clips: the video family, a vision tower that declares
    its frame count (X-CLIP), or a clip model over an image backbone that declares it at the top (TVP)."""
    frames = find(ctx.config, "num_frames", prefer=())
    separate_videos = ctx.accepts("pixel_values_videos")
    if frames is None and ctx.info.family == "video" and not separate_videos:  # clip length left to the processor
        frames = _DEFAULT_VIDEO_FRAMES
    vision = getattr(ctx.config, "vision_config", None)
    clip = getattr(ctx.config, "backbone_config", None) is not None and isinstance(
        getattr(ctx.config, "num_frames", None), int
    )
    if isinstance(frames, int) and (
        ctx.info.family == "video" or isinstance(getattr(vision, "num_frames", None), int) or clip
    ):
        return frames
    return None


_IMAGE_LAYOUTS = (
    _image_pairs,
    _linearly_embedded_patches,
    _tiles,
    _image_lists,
    _any_resolution_tiles,
    _video_clip,
)


def _flat_patches(ctx: InputContext):
    """Qwen-VL style: every patch flattened, with its (t, h, w) grid given separately."""
    grid_t, grid_h, grid_w = patch_grid(ctx.config)
    patch = find(ctx.config, "patch_size", default=14)
    temporal = find(ctx.config, "temporal_patch_size", "patch_temporal", default=1)
    channels = find(ctx.config, "in_channels", "num_channels", "in_chans", default=3)
    layout = patch_layout(ctx.model)
    if layout == "merged_pixels":  # Inkling2: one (patch × merge)² pixel block per merged token
        merge = find(ctx.config, "spatial_merge_size", "merge_size", default=1)
        return ctx.randn(ctx.batch * grid_t * grid_h * grid_w, patch * merge, patch * merge, channels)
    if layout == "patch_images":  # Kimi-K2.5: each patch as a small image for a 2D conv
        return ctx.randn(ctx.batch * grid_t * grid_h * grid_w, channels, patch, patch)
    return ctx.randn(ctx.batch * grid_t * grid_h * grid_w, channels * temporal * patch * patch)


# ---- the other inputs of vision towers ----


@builds("pixel_values_videos")
def pixel_values_videos(ctx: InputContext):
    channels, height, width = image_shape(ctx.config)
    frames = find(ctx.config, "num_frames", "frames_per_clip", prefer=(), default=8)
    return ctx.randn(ctx.batch, frames, channels, height, width)


@builds("hidden_states")
def hidden_states(ctx: InputContext):
    """Flat patches for a patch-grid tower run alone; otherwise the input of a convolutional codec half."""
    conv = None if uses_patch_grid(ctx.model) else first_conv1d(ctx.model)
    if conv is None:
        return _flat_patches(ctx)
    # A convolutional codec half (VibeVoice's encoder and decoder) takes (batch, channels, length):
    # a waveform in whole hops where its first convolution reads one or two channels, else latent frames.
    if conv.in_channels <= 2:
        return ctx.randn(
            ctx.batch, conv.in_channels, whole_hops(ctx.config, ctx.seq_len * DEFAULT_AUDIO_SAMPLES_PER_TOKEN)
        )
    return ctx.randn(ctx.batch, conv.in_channels, max(1, ctx.seq_len // 8))


@builds("image_grid_thw", "grid_thw")
def image_grid_thw(ctx: InputContext):
    import torch

    return torch.tensor([patch_grid(ctx.config)] * ctx.batch, dtype=torch.long)


@builds("image_grid_hw")
def image_grid_hw(ctx: InputContext):
    """Nemotron-H Omni: the (height, width) patch grid of each image, without a time axis."""
    import torch

    return torch.tensor([patch_grid(ctx.config)[1:]] * ctx.batch, dtype=torch.long)


@builds("high_res_pixel_values")
def high_res_pixel_values(ctx: InputContext):
    """DeepSeek-VL hybrid: the same image at the high-resolution tower's size."""
    high = getattr(ctx.config, "high_res_vision_config", None)
    channels, height, width = image_shape(high) if high is not None else image_shape(ctx.config)
    return ctx.randn(ctx.batch, channels, height, width)


@builds("image_sizes")
def image_sizes(ctx: InputContext):
    import torch

    _, height, width = image_shape(ctx.config)
    return torch.tensor([[height, width]] * ctx.batch, dtype=torch.long)


@builds("merge_sizes", "image_merge_sizes")
def merge_sizes(ctx: InputContext):
    """VideoLLaMA3: each image's spatial merge size, beside its patch grid."""
    import torch

    merge = find(ctx.config, "spatial_merge_size", "merge_size", default=1)
    return torch.tensor([merge if isinstance(merge, int) else 1] * ctx.batch, dtype=torch.long)


def _position_grid_side(ctx: InputContext) -> int:
    """Gemma4 pools k × k patches: a grid of 2k patches a side."""
    kernel = find(ctx.config, "pooling_kernel_size", prefer=(), default=2)
    return 2 * kernel if isinstance(kernel, int) and kernel > 0 else 4


@builds("pixel_position_ids")
def pixel_position_ids(ctx: InputContext):
    """Gemma4 towers: the (x, y) position of every patch, row by row."""
    import torch

    side = _position_grid_side(ctx)
    rows, columns = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.stack([columns.flatten(), rows.flatten()], dim=-1).expand(ctx.batch, -1, -1).clone()


@builds("target_sizes")
def target_sizes(ctx: InputContext):
    """MiniCPM towers: each image's patch grid (rows, columns)."""
    import torch

    _, height, width = image_shape(ctx.config)
    patch = find(ctx.config, "patch_size", default=14)
    return torch.tensor([[height // patch, width // patch]] * ctx.batch, dtype=torch.long)


@builds("spatial_shapes")
def spatial_shapes(ctx: InputContext):
    import torch

    side = native_patches_side(ctx.config)
    return torch.tensor([[side, side]] * ctx.batch, dtype=torch.long)


@builds("pixel_attention_mask")
def pixel_attention_mask(ctx: InputContext):
    import torch

    if takes_spatial_shapes(ctx.model):
        side = native_patches_side(ctx.config)
        return torch.ones((ctx.batch, side * side), dtype=torch.long)
    pixels = pixel_values(ctx)  # draws from the generator, as the pixels themselves do
    if mask_per_tile(ctx.model):  # Granite-Docling marks real tiles, not real pixels
        return torch.ones(pixels.shape[:-3], dtype=torch.bool)
    return torch.ones((*pixels.shape[:-3], *pixels.shape[-2:]), dtype=torch.bool)


@builds("flattened_patches")
def flattened_patches(ctx: InputContext):
    """Pix2Struct: rows of (row id, column id, flattened patch pixels)."""
    import torch

    width = find(ctx.config, "patch_embed_hidden_size", default=768)
    side = max(1, int(ctx.seq_len**0.5))
    patches = ctx.randn(ctx.batch, ctx.seq_len, width + 2)
    index = torch.arange(ctx.seq_len)
    patches[:, :, 0], patches[:, :, 1] = (index // side + 1).float(), (index % side + 1).float()
    return patches


@builds("prompt_pixel_values", "prompt_masks")
def prompt_pixel_values(ctx: InputContext):
    """SegGPT: a prompt image and its mask, the same size as the image."""
    return pixel_values(ctx)
