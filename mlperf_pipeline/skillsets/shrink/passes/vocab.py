"""Passes for the vocabulary: a small one, with special and implicit token ids moved inside it,
sibling tables sized by it following it, and a default language for multilingual adapters."""

from __future__ import annotations

from mlperf_pipeline.skillsets.shrink.fields import FFN_FIELDS, TINY_FFN, TINY_VOCAB, skipped_by_mildness
from mlperf_pipeline.skillsets.shrink.lookups import (
    free_token_ids,
    is_int_list,
    is_plain_int,
    is_token_id,
    layer_count_field,
    modeling_source,
    text_vocab,
)
from mlperf_pipeline.skillsets.shrink.registry import shrink_pass


@shrink_pass
def shrink_sibling_vocabs(original: dict, config: dict) -> None:
    """Other tables sized by the vocabulary (Gemma-3n/4 per-layer input embeddings,
    `vocab_size_per_layer_input`) follow the shrunk vocabulary where they equal it by default."""
    old, new = original.get("vocab_size"), config.get("vocab_size")
    if not isinstance(old, int) or not isinstance(new, int) or new >= old:
        return
    for name, value in original.items():
        if name.startswith("vocab_size_") and value == old and config.get(name) == old:
            config[name] = new


@shrink_pass
def fill_implicit_token_ids(original: dict, config: dict) -> None:
    """Token ids a model reads with a built-in default its config does not carry (ShieldGemma2's
    `getattr(config, "yes_token_index", 10_784)`) fall outside a tiny vocabulary: set them to free ids."""
    import re

    from transformers import CONFIG_MAPPING

    vocab = text_vocab(config)
    if not isinstance(vocab, int) or config.get("model_type") not in CONFIG_MAPPING:
        return
    source = modeling_source(CONFIG_MAPPING[config["model_type"]]) or ""
    implicit = {
        name: int(value)
        for name, value in re.findall(r'getattr\(config, "(\w+_token_(?:index|id))", ([\d_]+)\)', source)
    }
    wanted = [name for name, value in implicit.items() if value >= vocab and name not in config]
    if not wanted:
        return
    free = free_token_ids(config, vocab)
    for name in wanted:
        config[name] = next(free)


@shrink_pass
def shrink_vocab(original: dict, shrunk: dict) -> None:
    """Embedding tables dominate tiny models; special ids (here and in the text sub-config the
    composite model shares) are moved to the top of the small vocabulary, distinct ids kept distinct."""
    vocab = text_vocab(original)
    if not isinstance(vocab, int) or vocab <= TINY_VOCAB:
        return
    places = [shrunk] + [
        shrunk[name] for name in ("text_config", "decoder", "decoder_config") if isinstance(shrunk.get(name), dict)
    ]
    large_ids = sorted(
        {
            value
            for place in places
            for name, value in place.items()
            if is_token_id(name, value) and value >= TINY_VOCAB - 64
        }
    )
    new_id = {old: TINY_VOCAB - 1 - rank for rank, old in enumerate(reversed(large_ids))}
    for place in places:
        if isinstance(place.get("vocab_size"), int) and place["vocab_size"] > TINY_VOCAB:
            place["vocab_size"] = TINY_VOCAB
        for name, value in list(place.items()):
            if is_token_id(name, value) and value in new_id:
                place[name] = new_id[value]


@shrink_pass
def fill_missing_vocab(original: dict, config: dict) -> None:
    """A token vocabulary left unset (ESM reads it from its checkpoint's vocab file): the tiny one,
    with a padding id in it where that is unset too (positions are counted from the padding id)."""
    if "vocab_size" in config and config["vocab_size"] is None and layer_count_field(config):
        config["vocab_size"] = TINY_VOCAB
        if "pad_token_id" in config and config["pad_token_id"] is None:
            config["pad_token_id"] = 0


@shrink_pass
def shrink_hash_vocab(original: dict, config: dict) -> None:
    """Extra embedding tables as large as the vocabulary (BLT's hashed n-grams `*_vocab`, Gemma3n's
    per-layer inputs `vocab_size_per_layer_input`) shrink alike; per-layer FFN width lists too."""
    for name, value in list(config.items()):
        if (name.endswith("_vocab") or name.startswith("vocab_size_")) and is_plain_int(value) and value > TINY_VOCAB:
            config[name] = TINY_VOCAB
        elif name in FFN_FIELDS and is_int_list(value) and not skipped_by_mildness(name):
            config[name] = [min(each, TINY_FFN) for each in value]


@shrink_pass
def fill_default_language(original: dict, config: dict) -> None:
    """Multilingual models that route every input through one language adapter (X-MOD) leave the
    default language unset while listing the languages: the first listed one."""
    if config.get("default_language", 0) is None and config.get("languages"):
        config["default_language"] = config["languages"][0]
