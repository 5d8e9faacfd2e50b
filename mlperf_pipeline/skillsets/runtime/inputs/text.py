"""Text inputs: token ids, their masks, decoder ids, and embeddings given in place of ids."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds
from mlperf_pipeline.skillsets.runtime.introspect import documented_dims, documented_shapes
from mlperf_pipeline.skillsets.runtime.lookups import find, token_ids


@builds("input_ids", "tasks_input_ids")
def input_ids(ctx: InputContext):
    return token_ids(ctx.config, _token_rows(ctx, "input_ids"), ctx.seq_len, ctx.generator)


def _token_rows(ctx: InputContext, name: str) -> int:
    """Multi-codebook decoders (MusicGen) take one row of ids per codebook, as documented."""
    dims = documented_dims(ctx.model, name)
    codebooks = find(ctx.config, "num_codebooks", prefer=("decoder_config", "decoder"))
    if not isinstance(codebooks, int):  # Dia names its decoder's codebooks channels
        codebooks = find(ctx.config, "num_channels", prefer=("decoder_config", "decoder"))
    if dims and dims[0].replace(" ", "") == "batch_size*num_codebooks" and isinstance(codebooks, int):
        return ctx.batch * codebooks
    return ctx.batch


@builds("attention_mask", "tasks_attention_mask")
def attention_mask(ctx: InputContext):
    return ctx.ones(ctx.batch, ctx.seq_len)


@builds("token_type_ids")
def token_type_ids(ctx: InputContext):
    import torch

    return torch.zeros((ctx.batch, ctx.seq_len), dtype=torch.long)


@builds("decoder_input_ids")
def decoder_input_ids(ctx: InputContext):
    start = getattr(ctx.config, "decoder_start_token_id", None) or 0
    rows, length = _token_rows(ctx, "decoder_input_ids"), max(1, ctx.seq_len // 4)
    if rows != ctx.batch and ("batch_size", "target_sequence_length", "num_codebooks") in documented_shapes(
        ctx.model, "decoder_input_ids"
    ):
        # Where the codebooks may come last, give them so (Dia folds the flat layout with a view that fails)
        ids = token_ids(ctx.config, ctx.batch * length, rows // ctx.batch, ctx.generator).reshape(ctx.batch, length, -1)
        ids[:, 0] = start
        return ids
    ids = token_ids(ctx.config, rows, length, ctx.generator)
    ids[:, 0] = start
    return ids


@builds("inputs_embeds")
def inputs_embeds(ctx: InputContext):
    return ctx.randn(
        ctx.batch, ctx.seq_len, find(ctx.config, "hidden_size", "d_model", prefer=("text_config",), default=64)
    )


@builds("encoder_hidden_states")
def encoder_hidden_states(ctx: InputContext):
    width = find(ctx.config, "encoder_hidden_size", prefer=(), default=None) or find(
        ctx.config, "hidden_size", prefer=(), default=64
    )
    return ctx.randn(ctx.batch, ctx.seq_len, width)
