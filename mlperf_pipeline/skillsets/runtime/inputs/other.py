"""Inputs of models outside the usual modalities: reinforcement-learning trajectories, decision
heads, block-diffusion drafters, and the generic `inputs` of wrapper and Perceiver models."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds
from mlperf_pipeline.skillsets.runtime.lookups import find
from mlperf_pipeline.skillsets.runtime.reasons import UnsupportedInputs

# ---- offline reinforcement learning trajectories (Decision Transformer) ----


@builds("states")
def states(ctx: InputContext):
    return ctx.randn(ctx.batch, ctx.seq_len, find(ctx.config, "state_dim", prefer=(), default=1))


@builds("actions")
def actions(ctx: InputContext):
    return ctx.randn(ctx.batch, ctx.seq_len, find(ctx.config, "act_dim", prefer=(), default=1))


@builds("rewards", "returns_to_go")
def rewards(ctx: InputContext):
    return ctx.randn(ctx.batch, ctx.seq_len, 1)


@builds("timesteps")
def timesteps(ctx: InputContext):
    import torch

    limit = find(ctx.config, "max_ep_len", prefer=(), default=ctx.seq_len)
    return torch.arange(ctx.seq_len).remainder(limit).expand(ctx.batch, -1).clone()


# ---- decision heads (JEV): each prompt's questions are marked by a token, scored from the one before ----


@builds("marks")
def marks(ctx: InputContext):
    import torch

    return torch.full((ctx.batch, 1), ctx.seq_len, dtype=torch.long)  # one question, marked at the end


@builds("num_options")
def num_options(ctx: InputContext):
    import torch

    return torch.full((ctx.batch, 1), 2, dtype=torch.long)


@builds("question_type_ids")
def question_type_ids(ctx: InputContext):
    import torch

    return torch.zeros((ctx.batch, 1), dtype=torch.long)


# ---- block-diffusion drafters (speculative decoding): a block of noisy embeddings to denoise, ----
# ---- conditioned on the target model's hidden states of the chosen layers, concatenated ----


@builds("noise_embeds")
def noise_embeds(ctx: InputContext):
    block = find(ctx.config, "block_size", prefer=(), default=16)
    return ctx.randn(ctx.batch, block, find(ctx.config, "hidden_size", prefer=(), default=64))


@builds("context_hidden_states")
def context_hidden_states(ctx: InputContext):
    layers = len(getattr(ctx.config, "target_layer_ids", None) or [None])
    return ctx.randn(ctx.batch, ctx.seq_len, layers * find(ctx.config, "hidden_size", prefer=(), default=64))


# ---- a generic `inputs` ----


@builds("inputs")
def inputs(ctx: InputContext):
    """What the encoder takes as its main input (SpeechEncoderDecoder), or, without such an
    encoder, raw input vectors of width `d_model` (Perceiver without a preprocessor)."""
    encoder = getattr(ctx.model, "encoder", None)
    name = getattr(encoder, "main_input_name", None)
    if name not in (None, "inputs"):
        return InputContext(encoder, ctx.info, ctx.batch, ctx.seq_len, ctx.generator).make(name)
    width = find(ctx.config, "d_model", prefer=())
    if width is None:
        raise UnsupportedInputs(f"{ctx.info.model_class}.forward needs 'inputs', which no input builder makes")
    return ctx.randn(ctx.batch, ctx.seq_len, width)
