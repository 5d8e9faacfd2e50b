"""Decoder, MoE and state-space types whose library defaults leave fields unset or inconsistent:
real tiny models built from config, one forward, finite output (no mocks)."""

import pytest

from mlperf_pipeline_tests.skillsets.tiny import run_tiny


def test_moe_fields_left_unset_get_tiny_values():
    spec, model, _ = run_tiny("dots1")
    assert (model.config.n_routed_experts, model.config.num_experts_per_tok, model.config.n_shared_experts) == (4, 2, 1)


def test_aliases_the_config_derives_follow_their_source():
    spec, model, _ = run_tiny("xlstm")
    assert model.config.embedding_dim == model.config.hidden_size
    assert model.config.num_blocks == model.config.num_hidden_layers == 2
    # q/k width = width x factor: a multiple of 64, as the cache and the layers both assume
    assert model.config.hidden_size * model.config.qk_dim_factor % 64 == 0


def test_shared_blocks_keep_a_partner_layer():
    spec, model, _ = run_tiny("zamba")
    assert model.config.layers_block_type.count("hybrid") == 2
    spec, model, _ = run_tiny("gemma3n_text")
    shared = model.config.num_kv_shared_layers
    producers = model.config.layer_types[: model.config.num_hidden_layers - shared]
    assert shared >= 1 and set(producers) == set(model.config.layer_types)


def test_per_layer_overrides_shrink_with_the_config():
    spec, model, _ = run_tiny("dots3_note_text")
    sliding = model.config.per_layer_config["sliding_attention"]
    assert sliding.num_attention_heads == sliding.num_key_value_heads <= 2
    assert sliding.head_dim == sliding.qk_nope_head_dim + sliding.qk_rope_head_dim


def test_hybrid_without_attention_layers_runs_without_cache():
    spec, model, _ = run_tiny("bamba")
    assert spec.tiny_overrides["use_cache"] is False
    assert (
        model.config.mamba_n_heads * model.config.mamba_d_head == model.config.mamba_expand * model.config.hidden_size
    )


def test_attention_sub_config_gets_rotary_base_and_clip_bound():
    spec, model, _ = run_tiny("dbrx")
    assert spec.tiny_overrides["attn_config"]["clip_qkv"] == 8.0


def test_head_splitting_model_keeps_its_default_heads():
    spec, model, _ = run_tiny("codegen")
    assert model.config.n_head == 16 and model.config.n_embd == 64


@pytest.mark.parametrize("model_type", ["jev", "muse_glimmer_assistant"])
def test_decision_head_and_drafter_inputs_are_built(model_type):
    run_tiny(model_type)
