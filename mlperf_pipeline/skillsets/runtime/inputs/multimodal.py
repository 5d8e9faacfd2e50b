"""Inputs that tie images or regions to the text: layout boxes, region features, tiled-image and
placeholder masks, Q-Former queries, open-vocabulary class prompts and task prompts."""

from __future__ import annotations

from mlperf_pipeline.skillsets.runtime.inputs.base import InputContext, builds
from mlperf_pipeline.skillsets.runtime.inputs.text import attention_mask, input_ids
from mlperf_pipeline.skillsets.runtime.lookups import find, max_tiles, token_ids

# LXMERT-style region features: this many regions per image.
_REGIONS = 16
# open-vocabulary detection (OmDet-Turbo): a few tokenized class names and one task prompt per image
_CLASSES_PER_IMAGE, _CLASS_NAME_TOKENS = 4, 8


# ---- layout and region inputs beside the text (LayoutLM-style boxes, LXMERT region features) ----


@builds("bbox")
def bbox(ctx: InputContext):
    """One valid box per token on a 0..1000 page: (x0, y0, x1, y1), or its four corners
    where the config counts eight coordinates (BROS)."""
    import torch

    shape = (ctx.batch, ctx.seq_len)
    x0, y0 = (
        torch.randint(0, 500, shape, generator=ctx.generator),
        torch.randint(0, 500, shape, generator=ctx.generator),
    )
    x1 = x0 + torch.randint(1, 500, shape, generator=ctx.generator)
    y1 = y0 + torch.randint(1, 500, shape, generator=ctx.generator)
    if find(ctx.config, "dim_bbox", prefer=(), default=4) == 8:
        return torch.stack([x0, y0, x1, y0, x1, y1, x0, y1], dim=-1)
    return torch.stack([x0, y0, x1, y1], dim=-1)


@builds("visual_feats")
def visual_feats(ctx: InputContext):
    return ctx.randn(ctx.batch, _REGIONS, find(ctx.config, "visual_feat_dim", prefer=(), default=2048))


@builds("visual_pos")
def visual_pos(ctx: InputContext):
    import torch

    return torch.rand(
        (ctx.batch, _REGIONS, find(ctx.config, "visual_pos_dim", prefer=(), default=4)),
        generator=ctx.generator,
    )


# ---- prompts beside the image ----


@builds("task_inputs")
def task_inputs(ctx: InputContext):
    """OneFormer: the tokenized task prompt ("the task is semantic"), `task_seq_len` ids."""
    import torch

    length = find(ctx.config, "task_seq_len", prefer=(), default=ctx.seq_len)
    high = max(2, min(find(ctx.config, "text_encoder_vocab_size", prefer=(), default=1000), 30000) - 1)
    return torch.randint(1, high, (ctx.batch, length), generator=ctx.generator)


@builds("classes_input_ids")
def classes_input_ids(ctx: InputContext):
    return token_ids(ctx.config, ctx.batch * _CLASSES_PER_IMAGE, _CLASS_NAME_TOKENS, ctx.generator)


@builds("classes_attention_mask")
def classes_attention_mask(ctx: InputContext):
    return ctx.ones(ctx.batch * _CLASSES_PER_IMAGE, _CLASS_NAME_TOKENS)


@builds("classes_structure")
def classes_structure(ctx: InputContext):
    import torch

    return torch.full((ctx.batch,), _CLASSES_PER_IMAGE, dtype=torch.long)


# ---- tiled images (Mllama): one image of one tile, aspect ratio id 1 ([1, 1]); padding tiles masked ----


@builds("aspect_ratio_ids")
def aspect_ratio_ids(ctx: InputContext):
    return ctx.ones(ctx.batch, 1)


@builds("aspect_ratio_mask")
def aspect_ratio_mask(ctx: InputContext):
    import torch

    mask = torch.zeros((ctx.batch, 1, max_tiles(ctx.config)), dtype=torch.long)
    mask[..., 0] = 1
    return mask


@builds("cross_attention_mask")
def cross_attention_mask(ctx: InputContext):
    import torch

    mask = torch.zeros((ctx.batch, ctx.seq_len, 1, max_tiles(ctx.config)), dtype=torch.long)
    mask[..., 0] = 1
    return mask


# ---- where the image goes in the text ----


@builds("image_embeds_position_mask")
def image_embeds_position_mask(ctx: InputContext):
    """Kosmos-2: where in the text the `latent_query_num` image embeddings go (after the first token)."""
    import torch

    mask = torch.zeros((ctx.batch, ctx.seq_len), dtype=torch.long)
    mask[:, 1 : 1 + find(ctx.config, "latent_query_num", prefer=(), default=64)] = 1
    return mask


@builds("image_attention_mask")
def image_attention_mask(ctx: InputContext):
    """Idefics: which of the (one) images each text token may attend to."""
    return ctx.ones(ctx.batch, ctx.seq_len, 1)


# ---- Q-Former towers: their own text ids and learned queries ----


@builds("qformer_input_ids")
def qformer_input_ids(ctx: InputContext):
    return input_ids(ctx)


@builds("qformer_attention_mask")
def qformer_attention_mask(ctx: InputContext):
    return attention_mask(ctx)


@builds("query_embeds")
def query_embeds(ctx: InputContext):
    tokens = find(ctx.config, "num_query_tokens", prefer=(), default=32)
    return ctx.randn(ctx.batch, tokens, find(ctx.config, "hidden_size", prefer=("qformer_config",), default=64))
