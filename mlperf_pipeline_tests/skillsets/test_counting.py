"""FLOPs, bytes and operators of a forward (`skillsets/runtime/counting.py`), against closed forms."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mlperf_pipeline.skillsets.generate import spec_for
from mlperf_pipeline.skillsets.runtime import build_config, build_model, make_inputs, model_class
from mlperf_pipeline.skillsets.runtime.counting import _traffic_counter, count_forward, count_on_meta

TOKENS = 128


def _attention_flops(layers: int, hidden: int, tokens: int = TOKENS) -> float:
    """Scores (QK^T) and values (AV): two products of tokens x tokens x hidden per layer."""
    return layers * 2 * (2 * tokens * tokens * hidden)


def test_a_linear_layer_counts_its_product_and_the_bytes_it_reads_and_writes():
    layer, inputs = torch.nn.Linear(4, 3), torch.ones(2, 4)
    count = count_forward(layer, {"input": inputs})
    assert count.flops == 2 * 2 * 4 * 3
    # addmm reads bias (3), input (2x4), weight (4x3, a view: free) and writes 2x3; float32.
    assert count.bytes == (3 + 8 + 12 + 6) * 4
    assert count.ops == 2 and count.reason is None  # the transpose view and addmm


@pytest.mark.slow
def test_bert_base_agrees_with_two_flops_per_parameter_and_token_plus_attention():
    info = spec_for("bert").info()
    model = build_model(info, "full")  # BertModel: bert needs real values (a mask's .item()), not meta
    count = count_forward(model, make_inputs(model, info, 1, TOKENS, "cpu", "float32"))
    config = model.config
    embeddings = sum(parameter.numel() for parameter in model.embeddings.parameters())
    pooler = sum(parameter.numel() for parameter in model.pooler.parameters())
    body = sum(parameter.numel() for parameter in model.parameters()) - embeddings - pooler
    # The pooler's dense layer sees one token (the first), the encoder every token.
    closed_form = 2 * body * TOKENS + 2 * pooler + _attention_flops(config.num_hidden_layers, config.hidden_size)
    assert count.flops == pytest.approx(closed_form, rel=0.01)
    assert count.bytes > 4 * (body + embeddings)  # every weight is read at least once


def test_gpt2_agrees_with_the_closed_form_on_the_meta_device_and_scales_with_the_batch():
    info = spec_for("gpt2").info()
    one, eight = count_on_meta(info, "full", 1, TOKENS), count_on_meta(info, "full", 8, TOKENS)
    with torch.device("meta"):
        from transformers import GPT2Config, GPT2Model

        model = GPT2Model(GPT2Config())
    embeddings = model.wte.weight.numel() + model.wpe.weight.numel()
    body = sum(parameter.numel() for parameter in model.parameters()) - embeddings
    closed_form = 2 * body * TOKENS + _attention_flops(model.config.n_layer, model.config.n_embd)
    assert one.flops == pytest.approx(closed_form, rel=0.01)
    assert eight.flops == pytest.approx(8 * one.flops, rel=1e-6)
    assert one.bytes < eight.bytes < 8 * one.bytes  # the weights are read once per call, whatever the batch


def test_meta_and_real_tensors_count_alike():
    info = spec_for("gpt2").info()
    model = build_model(info, "tiny")
    real = count_forward(model, make_inputs(model, info, 2, 32, "cpu", "float32"))
    meta = count_on_meta(info, "tiny", 2, 32)
    assert (real.flops, real.bytes) == (meta.flops, meta.bytes)


def test_mixture_of_experts_counts_every_routed_token_through_one_expert():
    info = spec_for("mixtral").info()
    count = count_on_meta(info, "tiny", 1, TOKENS)
    with torch.device("meta"):
        model = model_class(info)._from_config(build_config(info, "tiny")).eval()
    inputs = make_inputs(model, info, 1, TOKENS, "meta", "float32")
    library_only = FlopCounterMode(display=False)  # its grouped products count 0
    with torch.inference_mode(), _traffic_counter(), library_only:
        model(**inputs)
    config = model.config
    hidden, inter, chosen = config.hidden_size, config.intermediate_size, config.num_experts_per_tok
    # Each routed copy of a token: gate and up (hidden -> 2 x inter), then down (inter -> hidden).
    experts = config.num_hidden_layers * 2 * TOKENS * chosen * (hidden * 2 * inter + inter * hidden)
    assert count.flops - library_only.get_total_flops() == experts


class _Broken(torch.nn.Module):
    def forward(self, **inputs):
        raise RuntimeError("needs real values")


def test_what_cannot_be_counted_has_a_reason_and_no_numbers():
    failed = count_forward(_Broken(), {})
    assert failed.reason == "counting failed: RuntimeError: needs real values"
    assert (failed.flops, failed.bytes, failed.ops) == (None, None, None)
    assert failed.fields() == {"flops": None, "bytes": None, "ops": None, "count_reason": failed.reason}
    no_products = count_forward(torch.nn.ReLU(), {"input": torch.ones(3)})
    assert no_products.reason == "no matrix product or convolution was counted" and no_products.flops is None


def test_counting_leaves_the_model_as_it_was():
    layer = torch.nn.Linear(4, 3)
    count_forward(layer, {"input": torch.ones(2, 4)})
    assert all(parameter.requires_grad for parameter in layer.parameters())


def test_a_grid_of_batches_is_counted_on_one_model_as_each_batch_alone():
    from mlperf_pipeline.skillsets.runtime.build import count_parameters_on_meta
    from mlperf_pipeline.skillsets.runtime.counting import count_workloads

    gpt2, bert = spec_for("gpt2").info(), spec_for("bert").info()
    counts, params = count_workloads(gpt2, "tiny", [1, 8], 32)
    assert params == count_parameters_on_meta(gpt2, "tiny")
    for batch in (1, 8):
        alone = count_on_meta(gpt2, "tiny", batch, 32)
        assert (counts[batch].flops, counts[batch].bytes, counts[batch].ops) == (alone.flops, alone.bytes, alone.ops)
    # bert's mask asks for real values on meta: each batch is counted again without it, on the same model.
    masked, _ = count_workloads(bert, "tiny", [1, 4], 32)
    assert all(count.reason is None for count in masked.values())
    assert masked[4].flops == pytest.approx(4 * masked[1].flops, rel=1e-6)


@pytest.mark.parametrize("model_type", ["gpt2", "bert", "t5"])
def test_on_real_tensors_a_large_batch_is_extrapolated_from_batches_2_and_4_as_counted(model_type):
    """The real-cpu fallback counts batches 1, 2 and 4 and extrapolates larger ones along the line
    through 2 and 4: the same numbers as counting the larger batch itself."""
    from mlperf_pipeline.skillsets.runtime.counting import _on_cpu

    info = spec_for(model_type).info()
    model = build_model(info, "tiny")
    counts = _on_cpu(model, info, [1, 8, 32], 32)
    for batch in (8, 32):
        direct = count_forward(model, make_inputs(model, info, batch, 32, "cpu", "float32"))
        assert counts[batch].flops == pytest.approx(direct.flops, rel=1e-6)
        assert counts[batch].bytes == pytest.approx(direct.bytes, rel=1e-6)
        assert counts[batch].ops == direct.ops


def test_an_extrapolated_count_keeps_the_reason_a_count_failed():
    from mlperf_pipeline.skillsets.runtime.counting import ForwardCount, along

    ok, failed = ForwardCount(10.0, 100.0, 5), ForwardCount.failed("counting failed: boom")
    assert along(ok, failed, 8) == failed and along(failed, ok, 8) == failed
    assert along(ok, ForwardCount(20.0, 150.0, 5), 8) == ForwardCount(40.0, 250.0, 5)  # 3 steps of 2


def _deeper(model_type: str, layers: int):
    """The tiny skillset of `model_type` with `layers` layers in every tower."""
    from dataclasses import replace

    from mlperf_pipeline.skillsets.runtime.depth import DEPTH_FIELDS, _depth_fields

    info = spec_for(model_type).info()
    names = {name for _, name, _ in _depth_fields(build_config(info, "tiny")) if name in DEPTH_FIELDS}
    overrides = {**info.tiny_overrides, **dict.fromkeys(names, layers)}
    if overrides.get("layer_types"):  # the tiny pattern, repeated to the new depth
        overrides["layer_types"] = (overrides["layer_types"] * layers)[:layers]
    return replace(info, tiny_overrides=overrides)


@pytest.mark.parametrize("model_type", ["gpt2", "bert", "t5", "gemma2"])
def test_counted_by_depth_a_deep_model_has_the_counts_of_the_whole_model(model_type):
    """Cut to 2, 4 and 6 layers and carried along the line to its own 14, the counts are those of
    the whole 14-layer model on real tensors: one layer kind (gpt2, bert), two towers (t5), or
    sliding and global attention taking turns (gemma2)."""
    from mlperf_pipeline.skillsets.runtime.counting import _on_cpu, _on_cpu_by_depth

    info = _deeper(model_type, 14)
    whole = _on_cpu(build_model(info, "tiny"), info, [1, 8], 32)
    by_depth = _on_cpu_by_depth(info, "tiny", [1, 8], 32)
    assert by_depth is not None
    for batch in (1, 8):
        assert by_depth[batch].path == "cpu by depth"
        assert by_depth[batch].flops == pytest.approx(whole[batch].flops, rel=1e-9)
        assert by_depth[batch].bytes == pytest.approx(whole[batch].bytes, rel=1e-9)
        assert by_depth[batch].ops == whole[batch].ops


def test_layers_that_do_not_repeat_are_not_counted_by_depth(monkeypatch):
    """deepseek_v3's first 3 layers are dense and the rest mixture-of-experts: the field that says so
    and the counts at 2, 4 and 6 layers, off one line, each have the whole model counted (None
    here); so is a model of 12 layers, no deeper than the cuts together."""
    from dataclasses import replace

    from mlperf_pipeline.skillsets.runtime.counting import _on_cpu_by_depth

    deep = _deeper("deepseek_v3", 14)
    uniform = replace(deep, tiny_overrides={**deep.tiny_overrides, "first_k_dense_replace": 0})
    assert _on_cpu_by_depth(uniform, "tiny", [1], 32) is not None  # every layer mixture-of-experts
    mixed = replace(deep, tiny_overrides={**deep.tiny_overrides, "first_k_dense_replace": 3})
    assert _on_cpu_by_depth(mixed, "tiny", [1], 32) is None
    # The line through the counts at 2 and 4 layers misses the count at 6 on its own, without the
    # field that places the dense layers (`depth.layers_placed_beyond`).
    monkeypatch.setattr("mlperf_pipeline.skillsets.runtime.depth.LAYER_INDEX_FIELDS", ())
    assert _on_cpu_by_depth(mixed, "tiny", [1], 32) is None
    assert _on_cpu_by_depth(_deeper("gpt2", 12), "tiny", [1], 32) is None


def test_a_config_cut_to_fewer_layers_cuts_every_tower_and_its_per_layer_lists():
    from transformers import AutoConfig

    from mlperf_pipeline.skillsets.runtime.depth import at_depth, depth_of

    gpt2 = AutoConfig.for_model("gpt2")  # n_layer, also read as num_hidden_layers
    assert depth_of(gpt2) == 12 and at_depth(gpt2, 2).n_layer == 2 and gpt2.n_layer == 12
    bart = at_depth(AutoConfig.for_model("bart"), 3)
    assert (bart.encoder_layers, bart.decoder_layers) == (3, 3)
    gemma2 = at_depth(AutoConfig.for_model("gemma2"), 4)
    assert gemma2.layer_types == AutoConfig.for_model("gemma2").layer_types[:4]
    assert gemma2.hidden_activation == "gelu_pytorch_tanh"  # a string is not a per-layer list
    # Towers of different depths have no single depth to cut.
    assert depth_of(AutoConfig.for_model("bart", encoder_layers=6, decoder_layers=3)) is None
    with pytest.raises(ValueError, match="no single depth"):
        at_depth(AutoConfig.for_model("bart", encoder_layers=6, decoder_layers=3), 2)
    with pytest.raises(ValueError, match="between 1 and the config's own depth 12"):
        at_depth(gpt2, 13)


def test_a_config_that_places_layers_past_the_cuts_is_not_counted_by_depth():
    """deepseek_v3 with its first 7 of 14 layers dense: cuts of 2, 4 and 6 layers are all dense and
    on one line that misses the mixture-of-experts layers, so the config is not cut (None:
    the whole model is counted). A list of layer indices past the first two is not cut either."""
    from dataclasses import replace

    from transformers import AutoConfig

    from mlperf_pipeline.skillsets.runtime.counting import _on_cpu_by_depth
    from mlperf_pipeline.skillsets.runtime.depth import layers_placed_beyond

    deep = _deeper("deepseek_v3", 14)
    late = replace(deep, tiny_overrides={**deep.tiny_overrides, "first_k_dense_replace": 7})
    assert layers_placed_beyond(build_config(late, "tiny"), 2) == ["first_k_dense_replace"]
    assert _on_cpu_by_depth(late, "tiny", [1], 32) is None
    early = replace(deep, tiny_overrides={**deep.tiny_overrides, "first_k_dense_replace": 2})
    assert layers_placed_beyond(build_config(early, "tiny"), 2) == []  # layers 0-1 dense in every cut
    assert layers_placed_beyond(AutoConfig.for_model("gpt2", cross_attention_layers=[0, 1]), 2) == []
    assert layers_placed_beyond(AutoConfig.for_model("gpt2", cross_attention_layers=[3, 8]), 2) == [
        "cross_attention_layers"
    ]
    assert layers_placed_beyond(AutoConfig.for_model("gpt2", layer_norm_epsilon=1e-5), 2) == []
