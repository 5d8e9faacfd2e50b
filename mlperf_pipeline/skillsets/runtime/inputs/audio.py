"""Audio inputs: spectrogram features (mel bins × frames, or stacked frames), raw waveforms in
whole hops of the encoder's strides, and codec latents."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds, documented_tensor
from mlperf_pipeline.skillsets.runtime.introspect import documented_dims, first_linear_width
from mlperf_pipeline.skillsets.runtime.lookups import (
    CHANNEL_DIMS,
    DEFAULT_AUDIO_SAMPLES_PER_TOKEN,
    FEATURE_DIMS,
    MEL_DIMS,
    audio_frames,
    find,
    is_audio_codec,
    mel_bins,
    whole_hops,
)
from mlperf_pipeline.skillsets.runtime.reasons import UnsupportedInputs


@builds("audio_mel")
def audio_mel(ctx: InputContext):
    return ctx.randn(ctx.batch, ctx.seq_len, mel_bins(ctx.config))


@builds("audio_mel_mask")
def audio_mel_mask(ctx: InputContext):
    import torch

    return torch.zeros((ctx.batch, ctx.seq_len), dtype=torch.bool)  # True marks padding


@builds("input_features")
def input_features(ctx: InputContext):
    stacked = find(ctx.config, "feature_projection_input_dim", prefer=("semantic_model_config", "audio_config"))
    if isinstance(stacked, int):  # w2v-BERT: (batch, frames, stacked mel features)
        return ctx.randn(ctx.batch, _waveform_frames(ctx) or audio_frames(ctx.config), stacked)
    stack = find(ctx.config, "num_stacked_frames", prefer=("audio_config", "encoder_config", "encoder"))
    dims = documented_dims(ctx.model, "input_features")
    if dims and len(dims) == 3 and dims[-1] in FEATURE_DIMS and dims[1] not in FEATURE_DIMS:
        # Frames stacked per step (FunASR's `num_stacked_frames`, Granite Speech's ×4 input projection):
        # (batch, frames, mel bins × stacked frames), where a first linear layer reads such a multiple.
        mel, width = mel_bins(ctx.config), first_linear_width(ctx.model)
        if isinstance(stack, int):
            return ctx.randn(ctx.batch, audio_frames(ctx.config), mel * stack)
        # (Where the ratio is the config's `subsampling_factor`, the model stacks the frames itself.)
        if (
            width
            and width > mel
            and width % mel == 0
            and width // mel != find(ctx.config, "subsampling_factor", prefer=())
        ):
            return ctx.randn(ctx.batch, audio_frames(ctx.config), width)
    return ctx.randn(ctx.batch, mel_bins(ctx.config), audio_frames(ctx.config))


def _waveform_frames(ctx: InputContext) -> int | None:
    """Codecs that take both the waveform and its features (XCodec2) need one feature frame per hop."""
    hop = getattr(ctx.config, "hop_length", None)
    if not ctx.accepts("input_values") or not isinstance(hop, int) or hop <= 0:
        return None
    return whole_hops(ctx.config, ctx.seq_len * DEFAULT_AUDIO_SAMPLES_PER_TOKEN) // hop


@builds("input_features_mask", "feature_attention_mask")
def input_features_mask(ctx: InputContext):
    stacked = find(ctx.config, "feature_projection_input_dim", prefer=("semantic_model_config", "audio_config"))
    frames = (_waveform_frames(ctx) if isinstance(stacked, int) else None) or audio_frames(ctx.config)
    return ctx.ones(ctx.batch, frames)  # as many frames as `input_features` makes


@builds("input_values")
def input_values(ctx: InputContext):
    samples = whole_hops(ctx.config, ctx.seq_len * DEFAULT_AUDIO_SAMPLES_PER_TOKEN)
    dims = documented_dims(ctx.model, "input_values")
    if dims and len(dims) == 3 and dims[-1] in MEL_DIMS:  # a spectrogram (AST): (batch, frames, mel bins)
        return documented_tensor(ctx, dims)
    if is_audio_codec(ctx.config) or (dims and len(dims) == 3 and dims[1] in CHANNEL_DIMS):
        # codecs take (batch, channels, samples)
        channels = (
            int(dims[1])
            if dims and dims[1].isdigit()
            else find(ctx.config, "audio_channels", "channels", prefer=(), default=1)
        )
        return ctx.randn(ctx.batch, channels, samples)
    return ctx.randn(ctx.batch, samples)


@builds("latents")
def latents(ctx: InputContext):
    """Codec decoders take continuous latents: (batch, width, frames) as their docstring says."""
    dims = documented_dims(ctx.model, "latents")
    if not dims:
        raise UnsupportedInputs(f"{ctx.info.model_class}.forward needs 'latents' of an undocumented shape")
    return documented_tensor(ctx, dims)
