"""Passes for vision: image sizes and patch grids, backbones and necks whose widths must agree,
segmenters, keypoint detectors and image tokenizers at tiny size."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import (
    MAX_PATCHES_PER_SIDE,
    MILDNESS,
    NECK_IN_CHANNEL_FIELDS,
    SEGMENTER_IMAGE_DIVISOR,
    STAGE_DEPTH_FIELDS,
    SUB_IMAGE_PATCHES_PER_SIDE,
    TINY_BASE_CHANNELS,
    TINY_KEYPOINTS,
    WIDTH_FIELDS,
)
from mlperf_pipeline.skillsets.shrink.lookups import (
    first_int,
    is_int_list,
    layer_count_field,
    modeling_source_of_type,
    tower_width,
)
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fit_neck_in_channels(original: dict, config: dict) -> None:
    """A neck's per-level input widths must be the channels the (shrunk) backbone really gives:
    ask the backbone itself, built on the meta device (stage widths may be set by several lists)."""
    backbone = config.get("backbone_config")
    fields = [name for name in NECK_IN_CHANNEL_FIELDS if is_int_list(config.get(name))]
    if not fields or not isinstance(backbone, dict) or not backbone.get("out_features"):
        return
    channels = _backbone_channels(backbone)
    for name in fields:
        if channels and len(config[name]) == len(channels):
            config[name] = list(channels)


def _backbone_channels(backbone: dict) -> list[int] | None:
    import torch
    from transformers import CONFIG_MAPPING, AutoBackbone

    try:
        settings = {name: value for name, value in backbone.items() if name != "model_type"}
        backbone_config = CONFIG_MAPPING[backbone["model_type"]](**settings)
        with torch.device("meta"):
            channels = AutoBackbone.from_config(backbone_config).channels
    except Exception:
        return None
    return [int(channel) for channel in channels] if channels else None


@shrink_pass
def fit_width_to_stage_widths(original: dict, config: dict) -> None:
    """Where `out_features` lists stage widths (EfficientLoFTR) rather than stage names and the
    default width is the last of them, the width keeps following it."""
    widths, original_widths = config.get("out_features"), original.get("out_features")
    if (
        not is_int_list(widths)
        or not is_int_list(original_widths)
        or original.get("hidden_size") != original_widths[-1]
    ):
        return
    config["hidden_size"] = widths[-1]


@shrink_pass
def fit_width_to_keypoint_descriptors(original: dict, config: dict) -> None:
    """A keypoint matcher (SuperGlue) attends over its detector's descriptors: same width."""
    detector = config.get("keypoint_detector_config")
    descriptors = detector.get("descriptor_decoder_dim") if isinstance(detector, dict) else None
    if isinstance(descriptors, int) and isinstance(config.get("hidden_size"), int):
        config["hidden_size"] = descriptors


@shrink_pass
def fill_empty_scale_factors(original: dict, config: dict) -> None:
    """A feature pyramid given by `*_scale_factors` that defaults empty (LW-DETR) has no feature
    level at all: one level at the backbone's own scale."""
    for name, value in list(config.items()):
        if name.endswith("_scale_factors") and isinstance(value, (list, tuple)) and not value:
            config[name] = [1.0]


@shrink_pass
def fit_patch_sized_sub_images(original: dict, config: dict) -> None:
    """DepthPro feeds its sub-encoders whole patches of the parent's `patch_size` pixels (their
    `image_size`): make those patches 4 × 4 of the encoders' own patches, so a 224 px image at the
    smallest scale still holds one."""
    patch = config.get("patch_size")
    subs = [
        value
        for value in config.values()
        if isinstance(value, dict) and "model_type" in value and value.get("image_size") == patch
    ]
    own = {sub.get("patch_size") for sub in subs if isinstance(sub.get("patch_size"), int)}
    if (
        not isinstance(patch, int)
        or isinstance(patch, bool)
        or not subs
        or len(own) != 1
        or len(subs) != sum(isinstance(sub.get("patch_size"), int) for sub in subs)
    ):
        return
    size = next(iter(own)) * SUB_IMAGE_PATCHES_PER_SIDE
    if size < patch:
        config["patch_size"] = size
        for sub in subs:
            sub["image_size"] = size


@shrink_pass
def fit_width_to_first_stage(original: dict, config: dict) -> None:
    """A width that equals the first stage's width by default (Hiera's `hidden_size` and
    `embed_dim_per_stage[0]`) keeps doing so: the stem feeds the first stage."""
    stages = [
        name for name, value in original.items() if name.endswith("_per_stage") and "dim" in name and is_int_list(value)
    ]
    for stage_field in stages:
        for name in WIDTH_FIELDS & original.keys():
            if original[name] == original[stage_field][0] and is_int_list(config.get(stage_field)):
                config[name] = config[stage_field][0]


@shrink_pass
def shrink_segmenter_images(original: dict, config: dict) -> None:
    """SAM-style vision configs fix the feature map sizes (`backbone_feature_sizes`) that their
    backbone's image size gives: divide both by 4 (a 1024 px image takes seconds even when tiny),
    and the prompt encoder beside them follows the new image size."""
    if MILDNESS.get() >= 3:
        return
    sizes, backbone = config.get("backbone_feature_sizes"), config.get("backbone_config")
    if isinstance(sizes, list) and sizes and all(is_int_list(size) for size in sizes) and isinstance(backbone, dict):
        image = backbone.get("image_size")
        divisor = SEGMENTER_IMAGE_DIVISOR
        if all(size % divisor == 0 for pair in sizes for size in pair) and (
            isinstance(image, int) or is_int_list(image)
        ):
            config["backbone_feature_sizes"] = [[size // divisor for size in pair] for pair in sizes]
            backbone["image_size"] = image // divisor if isinstance(image, int) else [side // divisor for side in image]
    vision, before = config.get("vision_config"), original.get("vision_config")
    if (
        not isinstance(vision, dict)
        or not isinstance(before, dict)
        or not isinstance(vision.get("backbone_config"), dict)
    ):
        return
    old_size = (before.get("backbone_config") or {}).get("image_size")
    new_size = vision["backbone_config"].get("image_size")
    old_side = old_size[0] if is_int_list(old_size) else old_size
    new_side = new_size[0] if is_int_list(new_size) else new_size
    for sub in config.values():
        if (
            isinstance(sub, dict)
            and sub is not vision
            and sub.get("image_size") == old_side
            and isinstance(new_side, int)
        ):
            sub["image_size"] = new_side


@shrink_pass
def every_stage_for_concatenated_features(original: dict, config: dict) -> None:
    """A model that concatenates all of its backbone's feature maps (UVDoc) is sized for one per
    stage, while the backbone default gives only the last: ask for every stage."""
    backbone = config.get("backbone_config")
    if (
        not isinstance(backbone, dict)
        or not isinstance(backbone.get("stage_names"), list)
        or not backbone.get("out_features")
    ):
        return
    if "torch.cat(backbone_outputs.feature_maps" not in modeling_source_of_type(config.get("model_type")):
        return
    stages = [name for name in backbone["stage_names"] if name != "stem"]
    backbone["out_features"] = stages
    if backbone.get("out_indices"):
        backbone["out_indices"] = [backbone["stage_names"].index(name) for name in stages]


@shrink_pass
def limit_keypoints(original: dict, config: dict) -> None:
    """Keypoint detectors (SuperPoint) keep every keypoint by default (-1): a thousand per image,
    which the matchers then attend over. Keep the best 64."""
    if MILDNESS.get() >= 3:
        return
    value = config.get("max_keypoints")
    if isinstance(value, int) and not isinstance(value, bool) and (value < 0 or value > TINY_KEYPOINTS):
        config["max_keypoints"] = TINY_KEYPOINTS


@shrink_pass
def fill_per_class_lists(original: dict, config: dict) -> None:
    """Detection heads that index a per-class list (`class_thresholds`, `class_order`) by the
    predicted class leave it None by default: one entry per label."""
    labels = len(config.get("id2label") or {}) or config.get("num_labels")
    if not isinstance(labels, int) or labels < 1:
        return
    if "class_thresholds" in config and config["class_thresholds"] is None:
        config["class_thresholds"] = [0.5] * labels
    if "class_order" in config and config["class_order"] is None:
        config["class_order"] = list(range(labels))


@shrink_pass
def shrink_conv_autoencoder(original: dict, config: dict) -> None:
    """VQ-GAN image tokenizers (Chameleon, Emu3, Janus) scale `base_channels` by a
    `channel_multiplier` per stage with `num_res_blocks` blocks each: they dominate tiny models."""
    if MILDNESS.get() >= 2 or not is_int_list(config.get("channel_multiplier")):
        return
    if isinstance(config.get("base_channels"), int) and config["base_channels"] > TINY_BASE_CHANNELS:
        config["base_channels"] = TINY_BASE_CHANNELS
    if isinstance(config.get("num_res_blocks"), int) and config["num_res_blocks"] > 1:
        config["num_res_blocks"] = 1


@shrink_pass
def fit_neck_to_encoder(original: dict, config: dict) -> None:
    """DeepSeek-OCR-style vision stacks feed a SAM neck's last `downsample_channels` straight into
    the sibling `encoder_config` as its embeddings: that neck must end at the encoder's width."""
    encoder = config.get("encoder_config")
    width = tower_width(encoder)
    if not width:
        return
    for name, sibling in config.items():
        if name != "encoder_config" and isinstance(sibling, dict) and is_int_list(sibling.get("downsample_channels")):
            sibling["downsample_channels"] = [*sibling["downsample_channels"][:-1], width]


@shrink_pass
def fit_pixel_shuffle(original: dict, config: dict) -> None:
    """Pixel shuffle (Idefics3, Aya) folds `factor` × `factor` patches: patches a side must divide."""
    factor = first_int(config, ("scale_factor", "downsample_factor", "pixel_shuffle_factor"))
    vision = config.get("vision_config")
    if not factor or factor < 2 or not isinstance(vision, dict):
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if isinstance(size, int) and isinstance(patch, int) and (size // patch) % factor:
        vision["image_size"] = patch * factor * -(-(size // patch) // factor)


@shrink_pass
def limit_image_size(original: dict, config: dict) -> None:
    """Very large images (Pixtral's 1540 px) make thousands of patches: cap at 32 patches a side."""
    if MILDNESS.get() >= 3:
        return
    size, patch = config.get("image_size"), config.get("patch_size")
    if "window_size" in config:  # windowed attention needs the resolutions its windows divide
        return
    if layer_count_field(config) is None and not STAGE_DEPTH_FIELDS & config.keys():
        return  # no encoder to spare: a prompt encoder's size must match its image encoder's
    if isinstance(size, int) and isinstance(patch, int) and patch > 0 and size // patch > MAX_PATCHES_PER_SIDE:
        config["image_size"] = patch * MAX_PATCHES_PER_SIDE
