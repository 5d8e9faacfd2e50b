"""Priority tiers: `critical` ⊂ `high` ⊂ `medium` ⊂ `all`.

`critical` and `high` are short hand-kept lists of the architectures people benchmark most;
`medium` is derived from the library (every type with a head for a headline task); the rest is
`all`. Within a tier, keys are alphabetical, so each tier is a contiguous partition range.
"""

from __future__ import annotations

TIER_ORDER = ("critical", "high", "medium", "all")

CRITICAL = frozenset(
    {
        "albert",
        "bart",
        "bert",
        "clip",
        "convnext",
        "deberta-v2",
        "distilbert",
        "gemma",
        "gpt2",
        "llama",
        "mistral",
        "mixtral",
        "phi",
        "qwen2",
        "resnet",
        "roberta",
        "swin",
        "t5",
        "vit",
        "wav2vec2",
        "whisper",
    }
)

HIGH = frozenset(
    {
        "beit",
        "blip",
        "bloom",
        "camembert",
        "codegen",
        "deit",
        "detr",
        "dinov2",
        "electra",
        "falcon",
        "gemma2",
        "gemma3_text",
        "gpt_neo",
        "gpt_neox",
        "gptj",
        "hubert",
        "layoutlm",
        "longformer",
        "m2m_100",
        "marian",
        "mamba",
        "mbart",
        "mobilebert",
        "mobilevit",
        "mpnet",
        "mt5",
        "olmo",
        "opt",
        "pegasus",
        "phi3",
        "qwen2_moe",
        "qwen3",
        "regnet",
        "segformer",
        "siglip",
        "speech_to_text",
        "stablelm",
        "starcoder2",
        "swinv2",
        "xlm-roberta",
        "xlnet",
        "yolos",
    }
)

# Tasks whose heads mark an architecture as a mainstream one worth the `medium` tier.
MEDIUM_TASKS = frozenset(
    {
        "for_causal_lm",
        "for_masked_lm",
        "for_seq_to_seq_causal_lm",
        "for_image_classification",
        "for_speech_seq_2_seq",
        "for_ctc",
        "for_zero_shot_image_classification",
        "for_image_text_to_text",
    }
)


def tier_of(model_type: str, tasks: set[str]) -> str:
    if model_type in CRITICAL:
        return "critical"
    if model_type in HIGH:
        return "high"
    if tasks & MEDIUM_TASKS:
        return "medium"
    return "all"


def within(entry_tier: str, selected_tier: str) -> bool:
    """True when an entry of `entry_tier` belongs to the cumulative tier `selected_tier`."""
    if selected_tier not in TIER_ORDER:
        raise ValueError(f"unknown tier {selected_tier!r}: expected one of {', '.join(TIER_ORDER)}")
    return TIER_ORDER.index(entry_tier) <= TIER_ORDER.index(selected_tier)
