"""Time-series inputs: past values over the context (plus lags), their time features and masks."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds


def _series_length(ctx: InputContext) -> int:
    """GluonTS-style models take context_length plus the largest lag; patch models a whole
    number of patches up to their context."""
    config = ctx.config
    context = getattr(config, "context_length", None) or getattr(config, "prediction_length", None)
    lags = getattr(config, "lags_sequence", None)
    if lags and isinstance(context, int):
        return context + max(lags)
    length = min(context, ctx.seq_len) if isinstance(context, int) else ctx.seq_len
    patch = getattr(config, "patch_length", None)
    return -(-length // patch) * patch if isinstance(patch, int) and patch > 0 else length


@builds("past_values")
def past_values(ctx: InputContext):
    channels = getattr(ctx.config, "num_input_channels", None)
    size = getattr(ctx.config, "input_size", None)
    if isinstance(channels, int):
        return ctx.randn(ctx.batch, _series_length(ctx), channels)
    if isinstance(size, int) and size > 1:
        return ctx.randn(ctx.batch, _series_length(ctx), size)
    return ctx.randn(ctx.batch, _series_length(ctx))


@builds("past_time_features")
def past_time_features(ctx: InputContext):
    features = getattr(ctx.config, "num_time_features", 0) or 0
    return ctx.randn(ctx.batch, _series_length(ctx), features)


@builds("past_observed_mask", "observed_mask")
def past_observed_mask(ctx: InputContext):
    import torch

    return torch.ones_like(past_values(ctx))  # draws from the generator, as the values themselves do


@builds("past_values_padding")
def past_values_padding(ctx: InputContext):
    import torch

    return torch.zeros((ctx.batch, _series_length(ctx)))


@builds("freq")
def freq(ctx: InputContext):
    import torch

    return torch.zeros((ctx.batch, 1), dtype=torch.long)
