"""The runtime that generated skillsets import: building models offline and making valid inputs.

A skillset module stays small and readable; the shared mechanics live here. Nothing here
downloads anything: models are built from library configs with seeded random weights.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from dataclasses import dataclass
from typing import Any

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
SEED = 0
# wav2vec2-style feature encoders downsample raw audio by the product of their conv strides.
_DEFAULT_AUDIO_SAMPLES_PER_TOKEN = 320
# Frames per clip where a video model's config does not say (InstructBLIP-Video's processor takes 4).
_DEFAULT_VIDEO_FRAMES = 4


class UnsupportedInputs(Exception):
    """The model's forward needs an input this runtime cannot build."""


class NonFiniteOutput(Exception):
    """The forward pass returned NaN or inf: fast but wrong must not pass."""


REASON_CODES = (
    "missing_dependency",
    "unsupported_inputs",
    "invalid_config",
    "library_error",
    "non_finite_output",
    "too_large",
)
# Optional packages some architectures need that cannot be installed beside our pinned torch.
_OPTIONAL_PACKAGES = (
    "torchvision",
    "torchaudio",
    "timm",
    "detectron2",
    "natten",
    "pytesseract",
    "scipy",
    "librosa",
    "causal_conv1d",
    "mamba_ssm",
    "flash_attn",
)


def reason_code(error: BaseException) -> str:
    """The closed-set reason for an exception raised while building or running a skillset."""
    if isinstance(error, UnsupportedInputs):
        return "unsupported_inputs"
    if isinstance(error, NonFiniteOutput) or type(error).__name__ == "NonFiniteOutput":
        return "non_finite_output"
    if _is_missing_dependency(error):
        return "missing_dependency"
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return "too_large"
    if _raised_by_config(error) and not _model_reads_missing_config_field(error):
        return "invalid_config"
    return "library_error"


def _is_missing_dependency(error: BaseException) -> bool:
    if isinstance(error, ImportError):
        return True
    # transformers' `requires_backends` and some model files say so in words instead.
    message = str(error).lower()
    return any(
        f"requires the {name}" in message or f"no module named '{name}" in message for name in _OPTIONAL_PACKAGES
    )


def _raised_by_config(error: BaseException) -> bool:
    """True when the innermost frame is config code: the config itself is inconsistent."""
    frame = error.__traceback__
    if frame is None or _model_reads_missing_config_field(error):
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    path = frame.tb_frame.f_code.co_filename.replace("\\", "/")
    # huggingface_hub's strict dataclasses validate config fields on construction.
    return "/configuration_" in path or path.endswith(("configuration_utils.py", "huggingface_hub/dataclasses.py"))


def _model_reads_missing_config_field(error: BaseException) -> bool:
    """Model code asking the default config for a field its class never defines (MusicGen's
    `dropout`, Qwen3-Omni's talker, Qwen2.5-Omni's thinker reading `vision_start_token_id`) is a
    library bug, not an inconsistent config, though config code raises it."""
    if not isinstance(error, AttributeError) or "object has no attribute" not in str(error):
        return False
    frame = error.__traceback__
    while frame is not None:
        if "/modeling_" in frame.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.tb_next
    return False


@dataclass(frozen=True)
class SkillsetInfo:
    model_type: str
    model_class: str
    family: str
    modality: str
    tiny_overrides: dict


def torch_dtype(name: str):
    import torch

    try:
        return getattr(torch, DTYPES[name])
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}: expected one of {sorted(DTYPES)}") from None


def build_config(info: SkillsetInfo, size: str):
    from transformers import AutoConfig

    if size not in ("tiny", "full"):
        raise ValueError(f"unknown size {size!r}: expected 'tiny' or 'full'")
    overrides = info.tiny_overrides if size == "tiny" else {}
    config = AutoConfig.for_model(info.model_type, **overrides)
    _int_tuples_as_lists(config, info)
    # Eager attention keeps FLOP counting honest and behaves the same on every device.
    config._attn_implementation = "eager"
    return config


def _int_tuples_as_lists(config, info: SkillsetInfo) -> None:
    """Config dataclasses keep some list defaults as tuples, which a few models append to a list
    (ViTMatte's `[config.hidden_size] + config.fusion_hidden_sizes`): those become lists, as in
    saved configs. Only those: others (Reformer) add tuples to tuples."""
    import sys

    tuples = [
        name
        for name, value in vars(config).items()
        if isinstance(value, tuple)
        and value
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    ]
    if not tuples:
        return
    try:
        source = inspect.getsource(sys.modules[model_class(info).__module__])
    except (AttributeError, KeyError, OSError, TypeError):
        return
    for name in tuples:
        if re.search(r"\]\s*\+\s*(?:self\.)?config\." + re.escape(name) + r"\b", source):
            setattr(config, name, list(getattr(config, name)))


def model_class(info: SkillsetInfo):
    import transformers

    return getattr(transformers, info.model_class)


def build_model(info: SkillsetInfo, size: str = "tiny", device: str = "cpu", dtype: str = "float32"):
    """A randomly initialised, seeded model in eval mode on `device` (no download, no remote code)."""
    import torch

    torch.manual_seed(SEED)
    config = _config_for_class(model_class(info), build_config(info, size))
    model = model_class(info)._from_config(config, dtype=torch_dtype(dtype))
    return model.to(device).eval()


def _config_for_class(cls, config):
    """A base class that is one tower of a composite config (MusicgenModel is Musicgen's decoder)
    is built from the sub-config of its own config class."""
    wanted = getattr(cls, "config_class", None)
    if not isinstance(wanted, type) or isinstance(config, wanted):
        return config
    for name in _SUB_CONFIG_NAMES:
        sub_config = getattr(config, name, None)
        if isinstance(sub_config, wanted):
            sub_config._attn_implementation = config._attn_implementation
            return sub_config
    return config


def count_parameters_on_meta(info: SkillsetInfo, size: str) -> int:
    """Parameter count without allocating memory: the model is built on the meta device."""
    import torch

    config = _config_for_class(model_class(info), build_config(info, size))
    with torch.device("meta"):
        model = model_class(info)._from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


# ---- config lookups: composite models keep modality settings in sub-configs ----

_SUB_CONFIG_NAMES = (
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


def _sub(config, *names):
    for name in names:
        sub_config = getattr(config, name, None)
        if sub_config is not None:
            return sub_config
    return config


def _find(config, *fields, prefer=("vision_config",), default=None):
    """The first set field among `fields`, looked up in preferred sub-configs, the config, then any sub-config."""
    places = (
        [getattr(config, name, None) for name in prefer]
        + [config]
        + [getattr(config, name, None) for name in _SUB_CONFIG_NAMES]
    )
    for place in places:
        if place is None or isinstance(place, dict):
            continue
        for field in fields:
            value = getattr(place, field, None)
            if value is not None and not isinstance(value, bool):
                return value
    return default


def _image_shape(config) -> tuple[int, int, int]:
    size = _find(config, "image_size", "img_size", "input_size", "max_img_size", default=None)
    if size is None:  # SAM2: the size sits in the vision tower's backbone
        size = _find(_sub(config, "vision_config"), "image_size", "img_size", "input_size", default=224)
    if isinstance(size, dict):  # e.g. {"height": 384, "width": 384}
        size = (size.get("height", 224), size.get("width", 224))
    height, width = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    channels = _find(config, "num_channels", "in_channels", "in_chans", default=3)
    return channels, height, width


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
    for place in [config] + [getattr(config, name, None) for name in _SUB_CONFIG_NAMES]:
        for name, value in vars(place).items() if place is not None and hasattr(place, "__dict__") else ():
            if (
                name.endswith(("_token_id", "_token_index", "_token_ids"))
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                ids.add(value)
    return ids


def _token_ids(config, batch_size: int, seq_len: int, generator):
    import torch

    # Stay clear of special ids at the top of some vocabularies and of placeholder ids.
    high = max(2, min(_vocab_size(config), 30000) - 1)
    ids = torch.randint(1, high, (batch_size, seq_len), generator=generator)
    for special in _special_token_ids(config):
        ids[ids == special] = 1 if special != 1 else 2
    return ids


def _image_token_id(config) -> int | None:
    for name in ("image_token_id", "image_token_index", "image_token", "video_token_id", "video_token_index"):
        value = _find(config, name, prefer=("text_config",))
        if isinstance(value, int):
            return value
    return None


def _mel_bins(config) -> int:
    return _find(
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


def _audio_frames(config) -> int:
    """Whisper-style encoders take exactly 2 × max_source_positions frames; others take any."""
    positions = _find(config, "max_source_positions", prefer=("audio_config", "encoder_config", "encoder"))
    # Whisper itself has 1500 positions at full size; far larger limits (6000) are upper bounds, not exact.
    frames = 2 * positions if isinstance(positions, int) and positions <= 1500 else _mel_bins(config)
    window = _find(config, "n_window", prefer=("audio_config", "encoder_config", "encoder"))
    if isinstance(window, int) and window > 0:  # chunked encoders (Qwen3-ASR) take whole chunks of 2 × n_window
        frames = -(-frames // (2 * window)) * 2 * window
    return frames


class _InputMaker:
    """Builds each named forward input from the model's config; one method per input name."""

    def __init__(self, model, info: SkillsetInfo, batch_size: int, seq_len: int, generator):
        self.model, self.config, self.info = model, model.config, info
        self.batch, self.seq_len, self.generator = batch_size, seq_len, generator

    def make(self, name: str):
        builder = getattr(self, f"_{name}", None)
        if builder is None:
            raise UnsupportedInputs(f"{self.info.model_class}.forward needs {name!r}, which no input builder makes")
        return builder()

    def _randn(self, *shape):
        import torch

        return torch.randn(shape, generator=self.generator)

    def _ones(self, *shape):
        import torch

        return torch.ones(shape, dtype=torch.long)

    # text
    def _input_ids(self):
        return _token_ids(self.config, self._token_rows("input_ids"), self.seq_len, self.generator)

    def _token_rows(self, name: str) -> int:
        """Multi-codebook decoders (MusicGen) take one row of ids per codebook, as documented."""
        dims = _documented_dims(self.model, name)
        codebooks = _find(self.config, "num_codebooks", prefer=("decoder_config", "decoder"))
        if not isinstance(codebooks, int):  # Dia names its decoder's codebooks channels
            codebooks = _find(self.config, "num_channels", prefer=("decoder_config", "decoder"))
        if dims and dims[0].replace(" ", "") == "batch_size*num_codebooks" and isinstance(codebooks, int):
            return self.batch * codebooks
        return self.batch

    def _attention_mask(self):
        return self._ones(self.batch, self.seq_len)

    def _token_type_ids(self):
        import torch

        return torch.zeros((self.batch, self.seq_len), dtype=torch.long)

    def _decoder_input_ids(self):
        start = getattr(self.config, "decoder_start_token_id", None) or 0
        rows, length = self._token_rows("decoder_input_ids"), max(1, self.seq_len // 4)
        if rows != self.batch and ("batch_size", "target_sequence_length", "num_codebooks") in _documented_shapes(
            self.model, "decoder_input_ids"
        ):
            # Where the codebooks may come last, give them so (Dia folds the flat layout with a view that fails)
            ids = _token_ids(self.config, self.batch * length, rows // self.batch, self.generator).reshape(
                self.batch, length, -1
            )
            ids[:, 0] = start
            return ids
        ids = _token_ids(self.config, rows, length, self.generator)
        ids[:, 0] = start
        return ids

    # vision
    def _pixel_values(self):
        if "prompt_pixel_values" in inspect.signature(self.model.forward).parameters:
            channels, height, width = _image_shape(self.config)  # SegGPT stacks prompt over image: half the height each
            return self._randn(self.batch, channels, height // 2, width)
        if "pixel_position_ids" in inspect.signature(self.model.forward).parameters:  # patches as rows, positions apart
            channels, patch = _image_shape(self.config)[0], _find(self.config, "patch_size", default=16)
            return self._randn(self.batch, self._position_grid_side() ** 2, channels * patch * patch)
        if _takes_spatial_shapes(self.model):
            side = _native_patches_side(self.config)
            channels, patch = _image_shape(self.config)[0], _find(self.config, "patch_size", default=16)
            return self._randn(self.batch, side * side, channels * patch * patch)
        if _uses_patch_grid(self.model):
            return self._flat_patches()
        channels, height, width = _image_shape(_image_encoder_owner(self.model).config)  # a wrapped model's own tower
        if _takes_image_pairs(self.model):
            return self._randn(self.batch, 2, channels, height, width)
        patch = _find(self.config, "patch_size")
        if isinstance(patch, int) and _embeds_patches_linearly(self.model, channels * patch * patch):
            return self._randn(self.batch, (height // patch) * (width // patch), channels * patch * patch)
        if _takes_tiles(self.model):  # Mllama: (batch, images, tiles, channels, height, width)
            return self._randn(self.batch, 1, _max_tiles(self.config), channels, height, width)
        lists = _takes_image_lists(self.model) or _takes_image_lists(
            _image_encoder_owner(self.model)
        )  # also inside retrieval wrappers
        if lists or "image_attention_mask" in inspect.signature(self.model.forward).parameters:
            return self._randn(self.batch, 1, channels, height, width)
        if getattr(self.config, "image_grid_pinpoints", None):
            return self._randn(self.batch, _any_resolution_patches(self.config), channels, height, width)
        frames = _find(self.config, "num_frames", prefer=())
        separate_videos = "pixel_values_videos" in inspect.signature(self.model.forward).parameters
        if frames is None and self.info.family == "video" and not separate_videos:  # clip length left to the processor
            frames = _DEFAULT_VIDEO_FRAMES
        vision = getattr(self.config, "vision_config", None)
        # Video towers: the video family, or a vision tower that declares its frame count (X-CLIP).
        # TVP: a clip model over an image backbone declares its frame count at the top.
        clip = getattr(self.config, "backbone_config", None) is not None and isinstance(
            getattr(self.config, "num_frames", None), int
        )
        if isinstance(frames, int) and (
            self.info.family == "video" or isinstance(getattr(vision, "num_frames", None), int) or clip
        ):
            return self._randn(self.batch, frames, channels, height, width)
        return self._randn(self.batch, channels, height, width)

    def _pixel_values_videos(self):
        channels, height, width = _image_shape(self.config)
        frames = _find(self.config, "num_frames", "frames_per_clip", prefer=(), default=8)
        return self._randn(self.batch, frames, channels, height, width)

    def _flat_patches(self):
        """Qwen-VL style: every patch flattened, with its (t, h, w) grid given separately."""
        grid_t, grid_h, grid_w = _patch_grid(self.config)
        patch = _find(self.config, "patch_size", default=14)
        temporal = _find(self.config, "temporal_patch_size", "patch_temporal", default=1)
        channels = _find(self.config, "in_channels", "num_channels", "in_chans", default=3)
        layout = _patch_layout(self.model)
        if layout == "merged_pixels":  # Inkling2: one (patch × merge)² pixel block per merged token
            merge = _find(self.config, "spatial_merge_size", "merge_size", default=1)
            return self._randn(self.batch * grid_t * grid_h * grid_w, patch * merge, patch * merge, channels)
        if layout == "patch_images":  # Kimi-K2.5: each patch as a small image for a 2D conv
            return self._randn(self.batch * grid_t * grid_h * grid_w, channels, patch, patch)
        return self._randn(self.batch * grid_t * grid_h * grid_w, channels * temporal * patch * patch)

    def _hidden_states(self):
        conv = None if _uses_patch_grid(self.model) else _first_conv1d(self.model)
        if conv is None:
            return self._flat_patches()
        # A convolutional codec half (VibeVoice's encoder and decoder) takes (batch, channels, length):
        # a waveform in whole hops where its first convolution reads one or two channels, else latent frames.
        if conv.in_channels <= 2:
            return self._randn(
                self.batch, conv.in_channels, _whole_hops(self.config, self.seq_len * _DEFAULT_AUDIO_SAMPLES_PER_TOKEN)
            )
        return self._randn(self.batch, conv.in_channels, max(1, self.seq_len // 8))

    def _image_grid_thw(self):
        import torch

        return torch.tensor([_patch_grid(self.config)] * self.batch, dtype=torch.long)

    _grid_thw = _image_grid_thw

    def _image_grid_hw(self):
        """Nemotron-H Omni: the (height, width) patch grid of each image, without a time axis."""
        import torch

        return torch.tensor([_patch_grid(self.config)[1:]] * self.batch, dtype=torch.long)

    def _high_res_pixel_values(self):
        """DeepSeek-VL hybrid: the same image at the high-resolution tower's size."""
        high = getattr(self.config, "high_res_vision_config", None)
        channels, height, width = _image_shape(high) if high is not None else _image_shape(self.config)
        return self._randn(self.batch, channels, height, width)

    def _image_sizes(self):
        import torch

        _, height, width = _image_shape(self.config)
        return torch.tensor([[height, width]] * self.batch, dtype=torch.long)

    def _merge_sizes(self):
        """VideoLLaMA3: each image's spatial merge size, beside its patch grid."""
        import torch

        merge = _find(self.config, "spatial_merge_size", "merge_size", default=1)
        return torch.tensor([merge if isinstance(merge, int) else 1] * self.batch, dtype=torch.long)

    _image_merge_sizes = _merge_sizes

    def _position_grid_side(self) -> int:
        """Gemma4 pools k × k patches: a grid of 2k patches a side."""
        kernel = _find(self.config, "pooling_kernel_size", prefer=(), default=2)
        return 2 * kernel if isinstance(kernel, int) and kernel > 0 else 4

    def _pixel_position_ids(self):
        """Gemma4 towers: the (x, y) position of every patch, row by row."""
        import torch

        side = self._position_grid_side()
        rows, columns = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        return torch.stack([columns.flatten(), rows.flatten()], dim=-1).expand(self.batch, -1, -1).clone()

    def _target_sizes(self):
        """MiniCPM towers: each image's patch grid (rows, columns)."""
        import torch

        _, height, width = _image_shape(self.config)
        patch = _find(self.config, "patch_size", default=14)
        return torch.tensor([[height // patch, width // patch]] * self.batch, dtype=torch.long)

    def _spatial_shapes(self):
        import torch

        side = _native_patches_side(self.config)
        return torch.tensor([[side, side]] * self.batch, dtype=torch.long)

    def _pixel_attention_mask(self):
        import torch

        if _takes_spatial_shapes(self.model):
            side = _native_patches_side(self.config)
            return torch.ones((self.batch, side * side), dtype=torch.long)
        pixels = self._pixel_values()
        if _mask_per_tile(self.model):  # Granite-Docling marks real tiles, not real pixels
            return torch.ones(pixels.shape[:-3], dtype=torch.bool)
        return torch.ones((*pixels.shape[:-3], *pixels.shape[-2:]), dtype=torch.bool)

    def _flattened_patches(self):
        """Pix2Struct: rows of (row id, column id, flattened patch pixels)."""
        import torch

        width = _find(self.config, "patch_embed_hidden_size", default=768)
        side = max(1, int(self.seq_len**0.5))
        patches = self._randn(self.batch, self.seq_len, width + 2)
        index = torch.arange(self.seq_len)
        patches[:, :, 0], patches[:, :, 1] = (index // side + 1).float(), (index % side + 1).float()
        return patches

    def _task_inputs(self):
        """OneFormer: the tokenized task prompt ("the task is semantic"), `task_seq_len` ids."""
        import torch

        length = _find(self.config, "task_seq_len", prefer=(), default=self.seq_len)
        high = max(2, min(_find(self.config, "text_encoder_vocab_size", prefer=(), default=1000), 30000) - 1)
        return torch.randint(1, high, (self.batch, length), generator=self.generator)

    # layout and region inputs beside the text (LayoutLM-style boxes, LXMERT region features)
    def _bbox(self):
        """One valid box per token on a 0..1000 page: (x0, y0, x1, y1), or its four corners
        where the config counts eight coordinates (BROS)."""
        import torch

        shape = (self.batch, self.seq_len)
        x0, y0 = (
            torch.randint(0, 500, shape, generator=self.generator),
            torch.randint(0, 500, shape, generator=self.generator),
        )
        x1 = x0 + torch.randint(1, 500, shape, generator=self.generator)
        y1 = y0 + torch.randint(1, 500, shape, generator=self.generator)
        if _find(self.config, "dim_bbox", prefer=(), default=4) == 8:
            return torch.stack([x0, y0, x1, y0, x1, y1, x0, y1], dim=-1)
        return torch.stack([x0, y0, x1, y1], dim=-1)

    _REGIONS = 16

    def _visual_feats(self):
        return self._randn(self.batch, self._REGIONS, _find(self.config, "visual_feat_dim", prefer=(), default=2048))

    def _visual_pos(self):
        import torch

        return torch.rand(
            (self.batch, self._REGIONS, _find(self.config, "visual_pos_dim", prefer=(), default=4)),
            generator=self.generator,
        )

    def _prompt_pixel_values(self):
        """SegGPT: a prompt image and its mask, the same size as the image."""
        return self._pixel_values()

    _prompt_masks = _prompt_pixel_values

    # open-vocabulary detection (OmDet-Turbo): a few tokenized class names and one task prompt per image
    _CLASSES_PER_IMAGE, _CLASS_NAME_TOKENS = 4, 8

    def _classes_input_ids(self):
        return _token_ids(self.config, self.batch * self._CLASSES_PER_IMAGE, self._CLASS_NAME_TOKENS, self.generator)

    def _classes_attention_mask(self):
        return self._ones(self.batch * self._CLASSES_PER_IMAGE, self._CLASS_NAME_TOKENS)

    def _classes_structure(self):
        import torch

        return torch.full((self.batch,), self._CLASSES_PER_IMAGE, dtype=torch.long)

    _tasks_input_ids = _input_ids
    _tasks_attention_mask = _attention_mask

    # tiled images (Mllama): one image of one tile, aspect ratio id 1 ([1, 1]); padding tiles masked
    def _aspect_ratio_ids(self):
        return self._ones(self.batch, 1)

    def _aspect_ratio_mask(self):
        import torch

        mask = torch.zeros((self.batch, 1, _max_tiles(self.config)), dtype=torch.long)
        mask[..., 0] = 1
        return mask

    def _cross_attention_mask(self):
        import torch

        mask = torch.zeros((self.batch, self.seq_len, 1, _max_tiles(self.config)), dtype=torch.long)
        mask[..., 0] = 1
        return mask

    def _image_embeds_position_mask(self):
        """Kosmos-2: where in the text the `latent_query_num` image embeddings go (after the first token)."""
        import torch

        mask = torch.zeros((self.batch, self.seq_len), dtype=torch.long)
        mask[:, 1 : 1 + _find(self.config, "latent_query_num", prefer=(), default=64)] = 1
        return mask

    def _image_attention_mask(self):
        """Idefics: which of the (one) images each text token may attend to."""
        return self._ones(self.batch, self.seq_len, 1)

    # ids and embeddings for towers that take them beside the main text
    def _qformer_input_ids(self):
        return self._input_ids()

    def _qformer_attention_mask(self):
        return self._attention_mask()

    def _inputs_embeds(self):
        return self._randn(
            self.batch, self.seq_len, _find(self.config, "hidden_size", "d_model", prefer=("text_config",), default=64)
        )

    def _encoder_hidden_states(self):
        width = _find(self.config, "encoder_hidden_size", prefer=(), default=None) or _find(
            self.config, "hidden_size", prefer=(), default=64
        )
        return self._randn(self.batch, self.seq_len, width)

    def _query_embeds(self):
        tokens = _find(self.config, "num_query_tokens", prefer=(), default=32)
        return self._randn(
            self.batch, tokens, _find(self.config, "hidden_size", prefer=("qformer_config",), default=64)
        )

    # offline reinforcement learning trajectories (Decision Transformer)
    def _states(self):
        return self._randn(self.batch, self.seq_len, _find(self.config, "state_dim", prefer=(), default=1))

    def _actions(self):
        return self._randn(self.batch, self.seq_len, _find(self.config, "act_dim", prefer=(), default=1))

    def _rewards(self):
        return self._randn(self.batch, self.seq_len, 1)

    _returns_to_go = _rewards

    def _timesteps(self):
        import torch

        limit = _find(self.config, "max_ep_len", prefer=(), default=self.seq_len)
        return torch.arange(self.seq_len).remainder(limit).expand(self.batch, -1).clone()

    # audio
    def _audio_mel(self):
        return self._randn(self.batch, self.seq_len, _mel_bins(self.config))

    def _audio_mel_mask(self):
        import torch

        return torch.zeros((self.batch, self.seq_len), dtype=torch.bool)  # True marks padding

    def _input_features(self):
        stacked = _find(self.config, "feature_projection_input_dim", prefer=("semantic_model_config", "audio_config"))
        if isinstance(stacked, int):  # w2v-BERT: (batch, frames, stacked mel features)
            return self._randn(self.batch, self._waveform_frames() or _audio_frames(self.config), stacked)
        stack = _find(self.config, "num_stacked_frames", prefer=("audio_config", "encoder_config", "encoder"))
        dims = _documented_dims(self.model, "input_features")
        if dims and len(dims) == 3 and dims[-1] in _FEATURE_DIMS and dims[1] not in _FEATURE_DIMS:
            # Frames stacked per step (FunASR's `num_stacked_frames`, Granite Speech's ×4 input projection):
            # (batch, frames, mel bins × stacked frames), where a first linear layer reads such a multiple.
            mel, width = _mel_bins(self.config), _first_linear_width(self.model)
            if isinstance(stack, int):
                return self._randn(self.batch, _audio_frames(self.config), mel * stack)
            # (Where the ratio is the config's `subsampling_factor`, the model stacks the frames itself.)
            if (
                width
                and width > mel
                and width % mel == 0
                and width // mel != _find(self.config, "subsampling_factor", prefer=())
            ):
                return self._randn(self.batch, _audio_frames(self.config), width)
        return self._randn(self.batch, _mel_bins(self.config), _audio_frames(self.config))

    def _waveform_frames(self) -> int | None:
        """Codecs that take both the waveform and its features (XCodec2) need one feature frame per hop."""
        hop = getattr(self.config, "hop_length", None)
        if (
            "input_values" not in inspect.signature(self.model.forward).parameters
            or not isinstance(hop, int)
            or hop <= 0
        ):
            return None
        return _whole_hops(self.config, self.seq_len * _DEFAULT_AUDIO_SAMPLES_PER_TOKEN) // hop

    def _input_features_mask(self):
        stacked = _find(self.config, "feature_projection_input_dim", prefer=("semantic_model_config", "audio_config"))
        frames = (self._waveform_frames() if isinstance(stacked, int) else None) or _audio_frames(self.config)
        return self._ones(self.batch, frames)  # as many frames as `_input_features` makes

    _feature_attention_mask = _input_features_mask

    def _input_values(self):
        samples = _whole_hops(self.config, self.seq_len * _DEFAULT_AUDIO_SAMPLES_PER_TOKEN)
        dims = _documented_dims(self.model, "input_values")
        if dims and len(dims) == 3 and dims[-1] in _MEL_DIMS:  # a spectrogram (AST): (batch, frames, mel bins)
            return self._documented_tensor(dims)
        if _is_audio_codec(self.config) or (dims and len(dims) == 3 and dims[1] in _CHANNEL_DIMS):
            # codecs take (batch, channels, samples)
            channels = (
                int(dims[1])
                if dims and dims[1].isdigit()
                else _find(self.config, "audio_channels", "channels", prefer=(), default=1)
            )
            return self._randn(self.batch, channels, samples)
        return self._randn(self.batch, samples)

    def _inputs(self):
        """A generic `inputs`: what the encoder takes as its main input (SpeechEncoderDecoder), or,
        without such an encoder, raw input vectors of width `d_model` (Perceiver without a preprocessor)."""
        encoder = getattr(self.model, "encoder", None)
        name = getattr(encoder, "main_input_name", None)
        if name not in (None, "inputs"):
            return _InputMaker(encoder, self.info, self.batch, self.seq_len, self.generator).make(name)
        width = _find(self.config, "d_model", prefer=())
        if width is None:
            raise UnsupportedInputs(f"{self.info.model_class}.forward needs 'inputs', which no input builder makes")
        return self._randn(self.batch, self.seq_len, width)

    def _documented_tensor(self, dims):
        """A float tensor of the shape the forward's docstring gives, sizes read from the config."""
        sizes = []
        for dim in dims:
            if dim == "batch_size":
                sizes.append(self.batch)
            elif dim.isdigit():
                sizes.append(int(dim))
            elif dim in _MEL_DIMS:
                sizes.append(_mel_bins(self.config))
            else:
                value = _find(self.config, dim.removeprefix("config."), prefer=())
                sizes.append(
                    value if isinstance(value, int) and not isinstance(value, bool) else max(1, self.seq_len // 8)
                )
        return self._randn(*sizes)

    def _latents(self):
        """Codec decoders take continuous latents: (batch, width, frames) as their docstring says."""
        dims = _documented_dims(self.model, "latents")
        if not dims:
            raise UnsupportedInputs(f"{self.info.model_class}.forward needs 'latents' of an undocumented shape")
        return self._documented_tensor(dims)

    # time series
    def _series_length(self) -> int:
        """GluonTS-style models take context_length plus the largest lag; patch models a whole
        number of patches up to their context."""
        config = self.config
        context = getattr(config, "context_length", None) or getattr(config, "prediction_length", None)
        lags = getattr(config, "lags_sequence", None)
        if lags and isinstance(context, int):
            return context + max(lags)
        length = min(context, self.seq_len) if isinstance(context, int) else self.seq_len
        patch = getattr(config, "patch_length", None)
        return -(-length // patch) * patch if isinstance(patch, int) and patch > 0 else length

    def _past_values(self):
        channels = getattr(self.config, "num_input_channels", None)
        size = getattr(self.config, "input_size", None)
        if isinstance(channels, int):
            return self._randn(self.batch, self._series_length(), channels)
        if isinstance(size, int) and size > 1:
            return self._randn(self.batch, self._series_length(), size)
        return self._randn(self.batch, self._series_length())

    def _past_time_features(self):
        features = getattr(self.config, "num_time_features", 0) or 0
        return self._randn(self.batch, self._series_length(), features)

    def _past_observed_mask(self):
        import torch

        return torch.ones_like(self._past_values())

    _observed_mask = _past_observed_mask

    def _past_values_padding(self):
        import torch

        return torch.zeros((self.batch, self._series_length()))

    def _freq(self):
        import torch

        return torch.zeros((self.batch, 1), dtype=torch.long)

    # decision heads (JEV): each prompt's questions are marked by a token, scored from the one before
    def _marks(self):
        import torch

        return torch.full((self.batch, 1), self.seq_len, dtype=torch.long)  # one question, marked at the end

    def _num_options(self):
        import torch

        return torch.full((self.batch, 1), 2, dtype=torch.long)

    def _question_type_ids(self):
        import torch

        return torch.zeros((self.batch, 1), dtype=torch.long)

    # block-diffusion drafters (speculative decoding): a block of noisy embeddings to denoise,
    # conditioned on the target model's hidden states of the chosen layers, concatenated
    def _noise_embeds(self):
        block = _find(self.config, "block_size", prefer=(), default=16)
        return self._randn(self.batch, block, _find(self.config, "hidden_size", prefer=(), default=64))

    def _context_hidden_states(self):
        layers = len(getattr(self.config, "target_layer_ids", None) or [None])
        return self._randn(self.batch, self.seq_len, layers * _find(self.config, "hidden_size", prefer=(), default=64))


def _patch_grid(config) -> tuple[int, int, int]:
    """A small (t, h, w) patch grid that the spatial merge divides."""
    merge = _find(config, "spatial_merge_size", "merge_size", default=1)
    side = max(2, 2 * merge) if isinstance(merge, int) else 4
    return 1, side, side


def _any_resolution_patches(config) -> int:
    """LLaVA-NeXT tiles an image of the base size into the best-fitting grid plus one overview."""
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    _, height, width = _image_shape(config)
    return image_size_to_num_patches((height, width), config.image_grid_pinpoints, height)


def _uses_patch_grid(model) -> bool:
    parameters = inspect.signature(model.forward).parameters
    return any(name in parameters for name in ("image_grid_thw", "grid_thw", "image_grid_hw"))


def _takes_spatial_shapes(model) -> bool:
    """NaFlex-style towers (Siglip2, LFM2-VL) take patches flattened with each image's grid."""
    return "spatial_shapes" in inspect.signature(model.forward).parameters


def _native_patches_side(config) -> int:
    patches = _find(config, "num_patches", prefer=("vision_config",))
    if isinstance(patches, int) and patches > 0:
        return max(1, int(patches**0.5))
    _, height, _ = _image_shape(config)
    return max(1, min(height // _find(config, "patch_size", default=16), 16))


def _patch_layout(model) -> str:
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


def _takes_image_pairs(model) -> bool:
    """Keypoint matchers (SuperGlue, LightGlue, EfficientLoFTR) take two images per example and say
    so in the check their forward makes."""
    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return False
    return "(batch_size, 2, num_channels, height, width)" in source


def _embeds_patches_linearly(model, patch_values: int) -> bool:
    """Fuyu has no vision tower: a linear layer embeds each flattened patch, so the images come
    as (batch, patches, channels × patch × patch)."""
    import torch

    return any(
        isinstance(module, torch.nn.Linear) and module.in_features == patch_values and "vision_embed" in name
        for name, module in model.named_modules()
    )


def _mask_per_tile(model) -> bool:
    """Whether the model documents `pixel_attention_mask` as one flag per tile, `(batch_size, num_tiles)`."""
    for method in (getattr(model, "get_image_features", None), model.forward):
        doc = (inspect.getdoc(method) or "") if callable(method) else ""
        entry = doc.partition("pixel_attention_mask (")[2].split("\n", 1)[0]
        if "(batch_size, num_tiles)" in entry:
            return True
    return False


def _patches_as_images(config, pixels):
    """Flat patches (patches, channels × patch × patch) as (patches, channels, patch, patch): the
    layout of patch-grid towers that embed each patch with a 2D convolution (Kimi-K2.5, PaddleOCR-VL)."""
    patch = _find(config, "patch_size")
    channels = _find(config, "in_channels", "num_channels", "in_chans", default=3)
    if pixels is None or pixels.dim() != 2 or not isinstance(patch, int) or pixels.shape[1] != channels * patch * patch:
        return None
    return pixels.reshape(-1, channels, patch, patch)


def _takes_tiles(model) -> bool:
    """Tiled towers (Mllama) select tile embeddings by each image's aspect ratio id."""
    return "aspect_ratio_ids" in inspect.signature(model.forward).parameters


def _max_tiles(config) -> int:
    return _find(config, "max_num_tiles", default=1)


def _takes_image_lists(model) -> bool:
    """Idefics-style models take (batch, images, channels, height, width) with a pixel mask."""
    return "pixel_attention_mask" in inspect.signature(model.forward).parameters


_MEL_DIMS = ("num_mel_bins", "mel_bins", "feature_size", "n_mels")
_FEATURE_DIMS = _MEL_DIMS + ("feature_dim", "input_dim", "num_features")
_CHANNEL_DIMS = ("channels", "audio_channels", "num_channels", "1", "2")
# Lists of per-stage strides whose product is an audio encoder's hop (samples per output frame).
_HOP_FIELDS = (
    "patch_sizes",
    "downsampling_ratios",
    "upsampling_ratios",
    "strides",
    "encoder_rates",
    "downsample_rates",
)


def _documented_dims(model, name: str) -> tuple[str, ...] | None:
    """The dimension names the forward's docstring gives an input: `name (`...` of shape `(a, b)`)`."""
    shapes = _documented_shapes(model, name)
    return shapes[0] if shapes else None  # the first shape where several are given


def _documented_shapes(model, name: str) -> list[tuple[str, ...]]:
    """Every shape the docstring allows for an input: `of shape `(a, b)` or (a, c, b)``."""
    import re

    doc = getattr(model.forward, "__doc__", None) or ""
    found = re.search(rf"\n\s*{re.escape(name)} \(`[^`]*` of shape `([^`]*)`", doc)
    if not found:
        return []
    return [
        tuple(dim.strip() for dim in shape.split(",") if dim.strip())
        for shape in re.findall(r"\(([^()]*)\)", found.group(1))
    ]


def _whole_hops(config, samples: int) -> int:
    """Audio encoders that fold fixed strides reject lengths that are not whole hops: round up."""
    hop = 1
    codec = _waveform_codec(config)
    if codec is not None and isinstance(getattr(codec, "hop_length", None), int):
        hop = codec.hop_length
    for field in _HOP_FIELDS:
        ratios = _find(config, field, prefer=())
        if isinstance(ratios, (list, tuple)) and ratios and all(isinstance(r, int) and r > 0 for r in ratios):
            product = 1
            for ratio in ratios:
                product *= ratio
            hop = max(hop, product)
    return -(-samples // hop) * hop


def _first_linear_width(model) -> int | None:
    """The input width of the model's first module with weights, where that is a linear layer."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            return module.in_features
        if any(True for _ in module.parameters(recurse=False)):
            return None
    return None


def _first_conv1d(model):
    """The model's first module with weights, where that is a 1-d convolution."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Conv1d):
            return module
        if any(True for _ in module.parameters(recurse=False)):
            return None
    return None


def _is_audio_codec(config) -> bool:
    return _find(config, "codebook_size", "codebook_dim", prefer=()) is not None or _waveform_codec(config) is not None


def _waveform_codec(config):
    """A codec sub-config that encodes the waveform first (PE Audio's `dac_config`): the audio then
    comes as (batch, channels, samples), in whole hops of that codec."""
    from transformers import PreTrainedConfig

    places = [config] + [getattr(config, name, None) for name in _SUB_CONFIG_NAMES]
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


def _required_parameters(forward) -> list[str]:
    parameters = inspect.signature(forward).parameters.values()
    return [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


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


def _has_vision_tower(config) -> bool:
    """False where the config declares a vision sub-config but leaves it unset (Gemma4's default
    is text only): such a model builds no image encoder and takes no images."""
    return not (hasattr(config, "vision_config") and config.vision_config is None)


def _wanted_inputs(model, info: SkillsetInfo) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    wanted = list(main) if isinstance(main, (list, tuple)) else [main]  # OneFormer: image and task
    if not set(wanted) & accepted.keys() and "input_ids" in accepted:
        wanted = ["input_ids"]  # a text tower that inherited its composite model's main input name
        main = "input_ids"
    if info.modality in ("image-text", "video") and "input_ids" in accepted:
        wanted += ["input_ids", "pixel_values"] if _has_vision_tower(model.config) else ["input_ids"]
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
    wanted += [name for name in _required_parameters(model.forward) if name != "self"]
    wanted += [extra for extra, partner in _COMPANIONS.items() if partner in wanted]
    if "pixel_values" in wanted and "input_ids" not in accepted:
        wanted.append("target_sizes")  # a MiniCPM tower alone needs each image's patch grid
    if "pixel_values" in wanted and callable(getattr(model, "get_image_features", None)):
        # What the image encoder cannot do without (image sizes, grids) the forward needs too.
        wanted += [
            name
            for name in _required_parameters(model.get_image_features)
            if name not in ("self", "pixel_values", *_TOWER_ONLY_INPUTS) and hasattr(_InputMaker, f"_{name}")
        ]
    if getattr(model.config, "image_grid_pinpoints", None) and "pixel_values" in wanted:
        wanted.append("image_sizes")  # any-resolution tiling needs each image's size
    return [name for name in dict.fromkeys(wanted) if name in accepted]


def effective_seq_len(config, seq_len: int) -> int:
    """The requested length, capped at the text model's position limit (CLIP's text tower takes 77)."""
    text = _sub(config, "text_config")
    limit = getattr(text, "max_position_embeddings", None)
    return min(seq_len, limit) if isinstance(limit, int) and limit > 0 else seq_len


def _image_feature_count(model, inputs: dict) -> int | None:
    """How many placeholder tokens the images fill: ask the model's own image encoder."""
    import torch

    get_features = getattr(model, "get_image_features", None)
    if get_features is None:
        return _query_token_count(model.config, inputs)
    accepted = inspect.signature(get_features).parameters
    missing = [name for name in _required_parameters(get_features) if name != "self" and name not in inputs]
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


def _image_encoder_owner(model):
    """The module that encodes images: the model itself, or the first inner model that can
    (classifier and retrieval heads, encoder-decoder encoders wrap the vision-language model)."""
    if callable(getattr(model, "get_image_features", None)):
        return model
    for module in model.modules():
        if callable(getattr(module, "get_image_features", None)) and hasattr(module, "config"):
            return module
    return model


def _place_image_tokens(model, inputs: dict) -> None:
    """Put as many image placeholder tokens in input_ids as the images produce features."""
    import torch

    owner = _image_encoder_owner(model)
    token = (
        _image_token_id(owner.config) if _image_token_id(owner.config) is not None else _image_token_id(model.config)
    )
    if token is None or "pixel_values" not in inputs or "input_ids" not in inputs:
        return
    count = _image_feature_count(owner, inputs)
    if not count:
        return
    ids = inputs["input_ids"]
    if ids.shape[1] < count + 2:  # the text must hold the whole image plus a little text
        extra = _token_ids(model.config, ids.shape[0], count + 2 - ids.shape[1], torch.Generator().manual_seed(SEED))
        ids = torch.cat([ids, extra], dim=1)
    ids[:, 1 : 1 + count] = token
    inputs["input_ids"] = ids
    for name in ("attention_mask", "token_type_ids"):
        if name in inputs:
            inputs[name] = torch.ones_like(ids) if name == "attention_mask" else torch.zeros_like(ids)
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        inputs["mm_token_type_ids"] = (ids == token).long()  # text 0, image 1 (multimodal RoPE)


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
    maker = _InputMaker(model, info, batch_size, seq_len, torch.Generator().manual_seed(SEED))
    inputs = {name: maker.make(name) for name in _wanted_inputs(model, info)}
    inputs = {
        name: value.to(dtype=_model_dtype(model)) if value.is_floating_point() else value
        for name, value in inputs.items()
    }
    try:
        _place_image_tokens(model, inputs)
    except (RuntimeError, ValueError):
        patches = _patches_as_images(model.config, inputs.get("pixel_values"))
        if patches is None:
            raise
        inputs["pixel_values"] = patches  # the same patches, each as a small image
        _place_image_tokens(model, inputs)
    return {
        name: value.to(device=device, dtype=torch_dtype(dtype)) if value.is_floating_point() else value.to(device)
        for name, value in inputs.items()
    }


def _model_dtype(model):
    import torch

    parameter = next(model.parameters(), None)
    return parameter.dtype if parameter is not None else torch.float32


def first_tensor(output):
    """The first tensor in a model output, for the finiteness check."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if hasattr(output, "values") else output
    for value in values:
        found = first_tensor(value) if not isinstance(value, torch.Tensor) else value
        if found is not None:
            return found
    return None


def run_standalone(
    info: SkillsetInfo, hardware: str, size: str, batch_size: int, seq_len: int, dtype: str, iterations: int
) -> dict:
    """What `python hf_<type>.py` does: build, run a few forwards, report timing and sanity."""
    import torch

    device = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "mps": "mps", "xpu": "xpu"}[hardware]
    started = time.perf_counter()
    model = build_model(info, size, device, dtype)
    build_s = time.perf_counter() - started
    inputs = make_inputs(model, info, batch_size, seq_len, device, dtype)
    latencies_ms = []
    with torch.inference_mode():
        for _ in range(iterations):
            call_started = time.perf_counter()
            output = model(**inputs)
            latencies_ms.append((time.perf_counter() - call_started) * 1000)
    tensor = first_tensor(output)
    return {
        "model_type": info.model_type,
        "hardware": hardware,
        "size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "build_s": round(build_s, 3),
        "latency_ms_median": round(sorted(latencies_ms)[len(latencies_ms) // 2], 3),
        "iterations": iterations,
        "finite": bool(tensor is None or torch.isfinite(tensor.float()).all()),
    }


def standalone_main(info: SkillsetInfo, argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=f"Run the {info.model_type} skillset once and print a JSON result.")
    parser.add_argument("--hardware", default="cpu", choices=["cpu", "cuda", "rocm", "mps", "xpu"])
    parser.add_argument("--size", default="tiny", choices=["tiny", "full"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    result = run_standalone(info, args.hardware, args.size, args.batch_size, args.seq_len, args.dtype, args.iterations)
    print(json.dumps(result))
    return 0 if result["finite"] else 1
