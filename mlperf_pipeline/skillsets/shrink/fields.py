"""Field groups and size caps: which config fields mean what, and how small `tiny` makes them.

The value rules (`values`) cap a field by the first group in `INT_CAPS` that names it; the passes
read the other groups and sizes here. A rung of the shrink ladder (`MILDNESS`) leaves some
groups at their defaults (`skipped_by_mildness`).
"""

from __future__ import annotations

from contextvars import ContextVar

# ---- sizes at `tiny` ----

TINY_LAYERS = 2
TINY_HEADS = 2
TINY_KV_HEADS = 1
TINY_WIDTH = 64
TINY_FFN = 128
TINY_SOURCE_POSITIONS = 64
TINY_EXPERTS = 4
TINY_EXPERTS_PER_TOKEN = 2
TINY_VOCAB = 1024
TINY_LORA_RANK = 32
TINY_ROPE_HEAD_DIM = 16
TINY_FRAMES = 4  # a multiple of the usual tubelet size (2)
TINY_FILTERS = 8
TINY_BASE_CHANNELS = 32  # group norms with 32 groups still divide every stage
TINY_KEYPOINTS = 64
TINY_PREDICTION_LENGTH = 8
TINY_INDEXER_BUDGET = 16
TINY_INDEXER_COMPRESS_RATIO = 4
TINY_QKV_CLIP = 8.0  # the published `clip_qkv` bound of the models that clamp by it
MAX_PATCHES_PER_SIDE = 32
SUB_IMAGE_PATCHES_PER_SIDE = 4
SEGMENTER_IMAGE_DIVISOR = 4  # a 1024 px segmenter image takes seconds even when tiny
DIM_FACTOR_MULTIPLE = 64  # xLSTM rounds its `*_dim_factor` head sizes up to this

# ---- field groups ----

_LAYER_FIELDS = {
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "n_layers",
    "encoder_layers",
    "decoder_layers",
    "num_encoder_layers",
    "num_decoder_layers",
    "num_hidden_groups_layers",
    "depth",
    "num_self_attends_per_block",
    "num_global_layers",
}

HEAD_FIELDS = {
    "num_attention_heads",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "n_head",
    "n_heads",
    "num_heads",
    "num_self_attention_heads",
    "num_cross_attention_heads",
    "attention_heads",
}

KV_HEAD_FIELDS = {"num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"}

WIDTH_FIELDS = {
    "hidden_size",
    "d_model",
    "n_embd",
    "embed_dim",
    "dim",
    "embedding_size",
    "projection_size",
    "d_latents",
}

FFN_FIELDS = {
    "intermediate_size",
    "ffn_dim",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "d_ff",
    "n_inner",
    "mlp_dim",
    "projection_dim",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "moe_shared_expert_intermediate_size",
}

_FRAME_FIELDS = {"num_frames", "frames_per_clip"}

EXPERT_FIELDS = {"num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"}

_EXPERT_PER_TOKEN_FIELDS = {
    "num_experts_per_tok",
    "moe_topk",
    "top_k",
    "num_experts_per_token",
    "moe_k",
    "num_selected_experts",
}

# Multi-head latent attention (DeepSeek-style) ranks and rotary head sizes.
_LORA_RANK_FIELDS = {"kv_lora_rank", "q_lora_rank"}

_ROPE_HEAD_FIELDS = {"qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}

STAGE_DEPTH_FIELDS = {"depths", "num_layers_per_stage", "stage_depths"}

STAGE_WIDTH_FIELDS = {"hidden_sizes", "embed_dims", "dims", "embedding_dims"}

STAGE_HEAD_FIELDS = {"num_heads", "num_attention_heads"}

CONV_WIDTH_FIELDS = {"conv_dim"}

# Base width of SEANet-style codec convolutions, doubled at every downsampling stage.
_FILTER_FIELDS = {"num_filters"}

# HiFi-GAN vocoders start upsampling at this width and halve it at every stage.
_VOCODER_WIDTH_FIELDS = {"upsample_initial_channel"}

# Projections between towers: they follow the (shrunk) widths of the towers they connect.
_TOWER_WIDTH_FIELDS = {
    "out_hidden_size",
    "text_hidden_size",
    "vision_hidden_size",
    "audio_hidden_size",
    "mm_hidden_size",
    "projector_hidden_size",
    "encoder_hidden_size",
    "condition_dim",
    "reassemble_hidden_size",
    "fpn_hidden_size",
    "backbone_hidden_size",
    "word_embed_proj_dim",
}

MEL_FIELDS = ("num_mel_bins", "feature_size", "input_feat_per_channel", "n_mels", "mel_bins")

# Lists that name a type per layer (or a cycled pattern of them).
LAYER_TYPE_FIELDS = ("layer_types", "block_types", "layers_block_type", "layer_type")

# Per-level input widths of a neck fed by the backbone's feature maps, one per `out_features`.
NECK_IN_CHANNEL_FIELDS = ("encoder_in_channels", "layer_list_out_channels")
TEXT_CONFIG_NAMES = ("text_config", "decoder", "language_config", "llm_config", "decoder_config")
TOWER_WIDTH_NAMES = ("hidden_size", "d_model", "hidden_dim", "embed_dim")
# Placeholder token ids and the tower whose features they stand for.
PLACEHOLDER_TOWERS = {
    "image_token_id": "vision_config",
    "video_token_id": "vision_config",
    "audio_token_id": "audio_config",
}
TOKEN_ID_SUFFIXES = ("_token_id", "_token_index", "_token")
TOP_K_FIELDS = _EXPERT_PER_TOKEN_FIELDS | {"top_k_experts"}
# Layer kinds that keep no attention cache.
LINEAR_LAYER_KINDS = {"linear_attention", "mamba", "mamba2", "conv", "ssm", "recurrent"}
# Words that mark an adapter's input or output width.
ADAPTER_WIDTH_WORDS = ("in_dim", "input_size", "out_dim", "output_size")

# Field groups and the largest value each keeps at tiny size; the first group that names a field wins.
INT_CAPS = (
    (_LAYER_FIELDS, TINY_LAYERS),
    (HEAD_FIELDS, TINY_HEADS),
    (KV_HEAD_FIELDS, TINY_KV_HEADS),
    (WIDTH_FIELDS | _TOWER_WIDTH_FIELDS, TINY_WIDTH),
    (FFN_FIELDS, TINY_FFN),
    ({"head_dim"}, TINY_WIDTH // TINY_HEADS),
    ({"max_source_positions"}, TINY_SOURCE_POSITIONS),
    (_FRAME_FIELDS, TINY_FRAMES),
    (EXPERT_FIELDS, TINY_EXPERTS),
    (_EXPERT_PER_TOKEN_FIELDS, TINY_EXPERTS_PER_TOKEN),
    (_LORA_RANK_FIELDS, TINY_LORA_RANK),
    (_ROPE_HEAD_FIELDS, TINY_ROPE_HEAD_DIM),
    (_FILTER_FIELDS, TINY_FILTERS),
    (_VOCODER_WIDTH_FIELDS, TINY_WIDTH),
)

# ---- the shrink ladder's rungs ----

# How mild the shrink is: 0 shrinks everything; 1 keeps per-stage width lists (necks and heads
# often repeat them); 2 keeps every width (layers, heads, experts and vocabulary still shrink);
# 3 cuts only layers, stage depths and the vocabulary. `ladder.ladder_candidates` gives a config's
# rung per level; the smoke checks climb them (`skillsets.generate.checked_specs`) when a harsher
# shrink leaves a model that cannot build or run.
MILDNESS_LEVELS = (0, 1, 2, 3)

# A context variable rather than a parameter threaded through every rule: the rules stay one-line
# lookups, and concurrent shrinks (threads, async) cannot see each other's rung.
MILDNESS: ContextVar[int] = ContextVar("mildness", default=0)

# Beside the ladder, a last variant keeps the default head counts and shrinks everything else:
# some attention code hardcodes how heads are grouped (CodeGen splits them over 4 model-parallel
# shards), so fewer heads than the default break it. Tried only when no rung works.
KEEP_HEADS: ContextVar[bool] = ContextVar("keep_heads", default=False)

_SCALAR_WIDTHS = (
    WIDTH_FIELDS
    | _TOWER_WIDTH_FIELDS
    | FFN_FIELDS
    | _LORA_RANK_FIELDS
    | _ROPE_HEAD_FIELDS
    | {"head_dim"}
    | _FILTER_FIELDS
    | _VOCODER_WIDTH_FIELDS
)


def skipped_by_mildness(name: str) -> bool:
    """Whether the current rung (`MILDNESS`) keeps this field at its default."""
    mildness = MILDNESS.get()
    if mildness >= 1 and name in STAGE_WIDTH_FIELDS | CONV_WIDTH_FIELDS:
        return True
    if mildness >= 2 and name in _SCALAR_WIDTHS:
        return True
    return mildness >= 3 and name not in (_LAYER_FIELDS | STAGE_DEPTH_FIELDS)
