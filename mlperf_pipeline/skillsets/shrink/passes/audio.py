"""Passes for audio: encoder frames match the mel bins, and codec widths (depthwise groups,
concatenated features) follow the shrunk widths."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import MEL_FIELDS, WIDTH_FIELDS
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def fit_depthwise_groups(original: dict, config: dict) -> None:
    """Depthwise convolutions set their `*_groups` to the width they convolve (Mimi's upsampling,
    512 groups for 512 channels): when that width shrinks, the groups follow it."""
    widths = {
        original[name]: config.get(name)
        for name in WIDTH_FIELDS & original.keys()
        if isinstance(original[name], int) and isinstance(config.get(name), int) and config[name] != original[name]
    }
    for name, value in original.items():
        if (
            name.endswith("_groups")
            and isinstance(value, int)
            and not isinstance(value, bool)
            and value > 1
            and value in widths
        ):
            config[name] = widths[value]


@shrink_pass
def fit_concatenated_widths(original: dict, config: dict) -> None:
    """A `*_dim` that the default sets to its own width plus a sub-config's width (XCodec2 quantizes
    the acoustic and semantic features concatenated) follows both shrunk widths."""
    width, tiny_width = original.get("hidden_size"), config.get("hidden_size")
    if not isinstance(width, int) or not isinstance(tiny_width, int) or width == tiny_width:
        return
    for sub_name, sub in original.items():
        tiny_sub = config.get(sub_name)
        if not (
            isinstance(sub, dict)
            and isinstance(tiny_sub, dict)
            and isinstance(sub.get("hidden_size"), int)
            and isinstance(tiny_sub.get("hidden_size"), int)
        ):
            continue
        for name, value in original.items():
            if (
                "dim" in name
                and isinstance(value, int)
                and not isinstance(value, bool)
                and config.get(name) == value == width + sub["hidden_size"]
            ):
                config[name] = tiny_width + tiny_sub["hidden_size"]


@shrink_pass
def fit_audio_frames(original: dict, config: dict) -> None:
    """Whisper-style encoders take 2 × max_source_positions frames: make that equal the mel bins,
    so one square feature map fits both (batch, mel, frames) and (batch, frames, mel) layouts."""
    mel = next((config[name] for name in MEL_FIELDS if isinstance(config.get(name), int)), None)
    if mel and isinstance(config.get("max_source_positions"), int):
        config["max_source_positions"] = mel // 2
