"""Config look-ups: composite models keep modality settings in sub-configs, under many names."""

from __future__ import annotations

# wav2vec2-style feature encoders downsample raw audio by the product of their conv strides.
DEFAULT_AUDIO_SAMPLES_PER_TOKEN = 320

SUB_CONFIG_NAMES = (
    "vision_config",
    "audio_config",
    "encoder_config",
    "text_config",
    "decoder_config",
    "encoder",
    "decoder",
    "backbone_config",
    "speech_config",
    "vision_tower_config",
)

MEL_DIMS = ("num_mel_bins", "mel_bins", "feature_size", "n_mels")
FEATURE_DIMS = MEL_DIMS + ("feature_dim", "input_dim", "num_features")
CHANNEL_DIMS = ("channels", "audio_channels", "num_channels", "1", "2")
# Lists of per-stage strides whose product is an audio encoder's hop (samples per output frame).
_HOP_FIELDS = (
    "patch_sizes",
    "downsampling_ratios",
    "upsampling_ratios",
    "strides",
    "encoder_rates",
    "downsample_rates",
)


def _sub(config, *names):
    for name in names:
        sub_config = getattr(config, name, None)
        if sub_config is not None:
            return sub_config
    return config


def find(config, *fields, prefer=("vision_config",), default=None):
    """The first set field among `fields`, looked up in preferred sub-configs, the config, then any sub-config."""
    places = (
        [getattr(config, name, None) for name in prefer]
        + [config]
        + [getattr(config, name, None) for name in SUB_CONFIG_NAMES]
    )
    for place in places:
        if place is None or isinstance(place, dict):
            continue
        for field in fields:
            value = getattr(place, field, None)
            if value is not None and not isinstance(value, bool):
                return value
    return default


def effective_seq_len(config, seq_len: int) -> int:
    """The requested length, capped at the text model's position limit (CLIP's text tower takes 77)."""
    text = _sub(config, "text_config")
    limit = getattr(text, "max_position_embeddings", None)
    return min(seq_len, limit) if isinstance(limit, int) and limit > 0 else seq_len


# ---- text ----


def _vocab_size(config) -> int:
    text = _sub(config, "text_config", "decoder")
    return (
        getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None) or _smallest_sub_vocab(config) or 1000
    )


def _smallest_sub_vocab(config) -> int | None:
    """Composites that keep vocabularies only in sub-configs (Dia's encoder and decoder, FastSpeech2
    with HiFi-GAN's `model_config`): ids below the smallest one are valid everywhere."""
    from transformers import PreTrainedConfig

    sizes = [getattr(sub, "vocab_size", None) for sub in vars(config).values() if isinstance(sub, PreTrainedConfig)]
    sizes = [size for size in sizes if isinstance(size, int) and size > 1]
    return min(sizes) if sizes else None


def _special_token_ids(config) -> set[int]:
    """Ids with a special meaning (image, audio, video placeholders): plain text must avoid them."""
    ids = set()
    for place in [config] + [getattr(config, name, None) for name in SUB_CONFIG_NAMES]:
        for name, value in vars(place).items() if place is not None and hasattr(place, "__dict__") else ():
            if (
                name.endswith(("_token_id", "_token_index", "_token_ids"))
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                ids.add(value)
    return ids


def token_ids(config, batch_size: int, seq_len: int, generator):
    import torch

    # Stay clear of special ids at the top of some vocabularies and of placeholder ids.
    high = max(2, min(_vocab_size(config), 30000) - 1)
    ids = torch.randint(1, high, (batch_size, seq_len), generator=generator)
    for special in _special_token_ids(config):
        ids[ids == special] = 1 if special != 1 else 2
    return ids


def image_token_id(config) -> int | None:
    for name in ("image_token_id", "image_token_index", "image_token", "video_token_id", "video_token_index"):
        value = find(config, name, prefer=("text_config",))
        if isinstance(value, int):
            return value
    return None


# ---- images ----


def image_shape(config) -> tuple[int, int, int]:
    size = find(config, "image_size", "img_size", "input_size", "max_img_size", default=None)
    if size is None:  # SAM2: the size sits in the vision tower's backbone
        size = find(_sub(config, "vision_config"), "image_size", "img_size", "input_size", default=224)
    if isinstance(size, dict):  # e.g. {"height": 384, "width": 384}
        size = (size.get("height", 224), size.get("width", 224))
    height, width = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    channels = find(config, "num_channels", "in_channels", "in_chans", default=3)
    return channels, height, width


def has_vision_tower(config) -> bool:
    """False where the config declares a vision sub-config but leaves it unset (Gemma4's default
    is text only): such a model builds no image encoder and takes no images."""
    return not (hasattr(config, "vision_config") and config.vision_config is None)


def patch_grid(config) -> tuple[int, int, int]:
    """A small (t, h, w) patch grid that the spatial merge divides."""
    merge = find(config, "spatial_merge_size", "merge_size", default=1)
    side = max(2, 2 * merge) if isinstance(merge, int) else 4
    return 1, side, side


def any_resolution_patches(config) -> int:
    """LLaVA-NeXT tiles an image of the base size into the best-fitting grid plus one overview."""
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    _, height, width = image_shape(config)
    return image_size_to_num_patches((height, width), config.image_grid_pinpoints, height)


def native_patches_side(config) -> int:
    patches = find(config, "num_patches", prefer=("vision_config",))
    if isinstance(patches, int) and patches > 0:
        return max(1, int(patches**0.5))
    _, height, _ = image_shape(config)
    return max(1, min(height // find(config, "patch_size", default=16), 16))


def max_tiles(config) -> int:
    return find(config, "max_num_tiles", default=1)


def patches_as_images(config, pixels):
    """Flat patches (patches, channels × patch × patch) as (patches, channels, patch, patch): the
    layout of patch-grid towers that embed each patch with a 2D convolution (Kimi-K2.5, PaddleOCR-VL)."""
    patch = find(config, "patch_size")
    channels = find(config, "in_channels", "num_channels", "in_chans", default=3)
    if pixels is None or pixels.dim() != 2 or not isinstance(patch, int) or pixels.shape[1] != channels * patch * patch:
        return None
    return pixels.reshape(-1, channels, patch, patch)


# ---- audio ----


def mel_bins(config) -> int:
    return find(
        config,
        "num_mel_bins",
        "feature_size",
        "input_feat_per_channel",
        "n_mels",
        "mel_bins",
        "input_feat_size",
        prefer=("audio_config", "encoder_config", "encoder"),
        default=80,
    )


def audio_frames(config) -> int:
    """Whisper-style encoders take exactly 2 × max_source_positions frames; others take any."""
    positions = find(config, "max_source_positions", prefer=("audio_config", "encoder_config", "encoder"))
    # Whisper itself has 1500 positions at full size; far larger limits (6000) are upper bounds, not exact.
    frames = 2 * positions if isinstance(positions, int) and positions <= 1500 else mel_bins(config)
    window = find(config, "n_window", prefer=("audio_config", "encoder_config", "encoder"))
    if isinstance(window, int) and window > 0:  # chunked encoders (Qwen3-ASR) take whole chunks of 2 × n_window
        frames = -(-frames // (2 * window)) * 2 * window
    return frames


def whole_hops(config, samples: int) -> int:
    """Audio encoders that fold fixed strides reject lengths that are not whole hops: round up."""
    hop = 1
    codec = _waveform_codec(config)
    if codec is not None and isinstance(getattr(codec, "hop_length", None), int):
        hop = codec.hop_length
    for field in _HOP_FIELDS:
        ratios = find(config, field, prefer=())
        if isinstance(ratios, (list, tuple)) and ratios and all(isinstance(r, int) and r > 0 for r in ratios):
            product = 1
            for ratio in ratios:
                product *= ratio
            hop = max(hop, product)
    return -(-samples // hop) * hop


def is_audio_codec(config) -> bool:
    return find(config, "codebook_size", "codebook_dim", prefer=()) is not None or _waveform_codec(config) is not None


def _waveform_codec(config):
    """A codec sub-config that encodes the waveform first (PE Audio's `dac_config`): the audio then
    comes as (batch, channels, samples), in whole hops of that codec."""
    from transformers import PreTrainedConfig

    places = [config] + [getattr(config, name, None) for name in SUB_CONFIG_NAMES]
    return next(
        (
            sub
            for place in places
            if isinstance(place, PreTrainedConfig)
            for name, sub in vars(place).items()
            if name.endswith(("codec_config", "dac_config"))
            and isinstance(sub, PreTrainedConfig)
            and getattr(sub, "codebook_size", None) is not None
        ),
        None,
    )
