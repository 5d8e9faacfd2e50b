"""Audio codecs, speech encoders and TTS types at tiny size: real models from config, one forward (no mocks)."""

from functools import partial

import pytest

from mlperf_pipeline.skillsets.runtime import build_model, reason_code
from mlperf_pipeline.skillsets.generate import spec_for

from mlperf_pipeline_tests.skillsets import tiny

# Codecs need whole hops of audio, and some speech models stay larger than the others.
run_tiny = partial(tiny.run_tiny, seq_len=128, max_params=60_000_000)


@pytest.mark.slow
def test_depthwise_upsample_groups_follow_the_shrunk_width_and_latents_follow_the_docstring():
    spec, model, inputs = run_tiny("mimi_decoder")
    assert spec.tiny_overrides["upsample_groups"] == spec.tiny_overrides["hidden_size"]
    assert inputs["latents"].shape[:2] == (1, model.config.hidden_size)


@pytest.mark.slow
def test_codec_waveform_has_a_channel_axis_and_whole_hops():
    _, model, inputs = run_tiny("pocket_tts_audio_tokenizer_encoder")
    assert inputs["input_values"].dim() == 3 and inputs["input_values"].shape[1] == model.config.audio_channels
    _, _, inputs = run_tiny("muse_spark_audio")
    assert inputs["input_values"].shape[-1] % 1920 == 0  # product of its patch sizes


def test_tower_class_builds_from_its_sub_config_with_one_id_row_per_codebook():
    _, model, inputs = run_tiny("musicgen")
    assert type(model.config).__name__ == "MusicgenDecoderConfig"
    assert inputs["input_ids"].shape[0] == model.config.num_codebooks


def test_cross_attention_sizes_shrink_with_the_encoder_and_ids_fit_sub_vocabularies():
    spec, model, inputs = run_tiny("dia")
    assert (
        spec.tiny_overrides["decoder_config"]["cross_hidden_size"]
        == spec.tiny_overrides["encoder_config"]["hidden_size"]
    )
    assert inputs["input_ids"].max() < model.config.encoder_config.vocab_size
    assert inputs["decoder_input_ids"].shape[-1] == model.config.decoder_config.num_channels


@pytest.mark.parametrize(
    "model_type",
    ["audio-spectrogram-transformer", "fun_asr_nano_encoder", "speech-encoder-decoder", "audioflamingo3_encoder"],
)
def test_speech_inputs_take_the_documented_layout(model_type):
    run_tiny(model_type)


def test_stacked_frame_features_are_as_wide_as_the_input_projection():
    _, model, inputs = run_tiny("granite_speech5_encoder")
    assert inputs["input_features"].shape[-1] == model.input_linear.in_features == 4 * model.config.num_mel_bins


@pytest.mark.slow
def test_convolutional_codec_half_takes_channels_first_hidden_states():
    _, model, inputs = run_tiny("vibevoice_acoustic_tokenizer_encoder")
    assert inputs["hidden_states"].shape[:2] == (1, model.config.channels)


def test_missing_config_field_read_by_model_code_is_a_library_error():
    spec = spec_for("moonshine_streaming")
    with pytest.raises(AttributeError) as raised:
        build_model(spec.info(), "tiny")  # the decoder reads `num_key_value_heads`, which its config never defines
    assert reason_code(raised.value) == "library_error"
