import pytest

from mlperf_pipeline.catalog import tiers
from mlperf_pipeline.catalog.catalog import (
    catalog_fingerprint,
    config_class_names,
    entry_for,
    model_types_with_class,
    partition_key_for,
    partition_keys_in_tier_order,
    select,
)


def test_catalogue_covers_every_config_type_of_the_installed_library(catalog):
    assert {entry.model_type for entry in catalog} == set(config_class_names())
    with_class = [entry for entry in catalog if entry.has_model_class]
    assert {entry.model_type for entry in with_class} == set(model_types_with_class())
    assert len(with_class) > 600  # transformers 5.x: 649 types have a model class


@pytest.mark.parametrize(
    ("model_type", "family", "modality"),
    [
        ("bert", "encoder", "text"),
        ("gpt2", "decoder", "text"),
        ("t5", "encoder-decoder", "text"),
        ("vit", "vision", "image"),
        ("clip", "vision-text", "image-text"),
        ("whisper", "speech/audio", "audio"),
        ("mixtral", "moe", "text"),
        ("mamba", "state-space", "text"),
    ],
)
def test_families_and_modalities_come_from_the_library(catalog, model_type, family, modality):
    entry = next(e for e in catalog if e.model_type == model_type)
    assert (entry.family, entry.modality) == (family, modality)
    assert entry.model_class and entry.has_model_class


def test_partition_keys_are_in_tier_order_so_each_tier_is_a_contiguous_range(catalog):
    keys = partition_keys_in_tier_order(catalog)
    tier_of_key = {e.partition_key: e.tier for e in catalog}
    ranks = [tiers.TIER_ORDER.index(tier_of_key[key]) for key in keys]
    assert ranks == sorted(ranks)
    critical = [key for key in keys if tier_of_key[key] == "critical"]
    assert critical == sorted(critical) and keys[: len(critical)] == critical
    assert len(critical) >= 20
    assert len(keys) == len(set(keys))


def test_partition_keys_never_hold_characters_dagster_reserves():
    assert partition_key_for("a|b,c[d]e...f") == "a_b_c_d_e_f"


def test_select_is_cumulative_by_tier_and_rejects_unknown_names(catalog):
    critical = select(catalog, tier="critical")
    high = select(catalog, tier="high")
    assert {e.model_type for e in critical} < {e.model_type for e in high}
    with pytest.raises(ValueError, match="no_such_model"):
        select(catalog, models=["bert", "no_such_model"])
    with pytest.raises(ValueError, match="unknown tier"):
        select(catalog, tier="urgent")


def test_single_entry_matches_the_full_catalogue(catalog):
    assert entry_for("deberta-v2") == next(e for e in catalog if e.model_type == "deberta-v2")
    with pytest.raises(ValueError, match="unknown model type"):
        entry_for("x'; DROP TABLE benchmark_results; --")


def test_fingerprint_is_stable():
    assert catalog_fingerprint() == catalog_fingerprint()
