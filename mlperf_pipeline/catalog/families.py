"""Architecture family and input modality, derived from task mappings and the default config."""

from __future__ import annotations

FAMILIES = (
    "encoder",
    "decoder",
    "encoder-decoder",
    "vision",
    "vision-text",
    "speech/audio",
    "video",
    "moe",
    "state-space",
    "diffusion",
    "other",
)

_AUDIO_TASKS = {
    "for_audio_classification",
    "for_audio_frame_classification",
    "for_audio_xvector",
    "for_ctc",
    "for_speech_seq_2_seq",
    "for_text_to_spectrogram",
    "for_text_to_waveform",
    "for_rnnt",
    "for_tdt",
}
_VISION_TEXT_TASKS = {
    "for_image_text_to_text",
    "for_visual_question_answering",
    "for_zero_shot_image_classification",
    "for_zero_shot_object_detection",
    "for_multimodal_lm",
    "for_document_question_answering",
    "for_text_recognition",
    "for_table_recognition",
    "for_retrieval",
}
_VISION_TASKS = {
    "for_image_classification",
    "image",
    "for_backbone",
    "for_object_detection",
    "for_image_segmentation",
    "for_semantic_segmentation",
    "for_instance_segmentation",
    "for_universal_segmentation",
    "for_depth_estimation",
    "for_masked_image_modeling",
    "for_keypoint_detection",
    "for_keypoint_matching",
    "for_image_to_image",
    "for_image_matting",
    "for_pose_estimation",
    "for_mask_generation",
    "for_normal_estimation",
    "for_pointmap_estimation",
    "for_causal_image_modeling",
}
_TEXT_ENCODER_TASKS = {
    "for_masked_lm",
    "for_sequence_classification",
    "for_token_classification",
    "for_question_answering",
    "for_multiple_choice",
    "for_text_encoding",
    "for_next_sentence_prediction",
}
_TIME_SERIES_TASKS = {
    "for_time_series_classification",
    "for_time_series_prediction",
    "for_time_series_regression",
}
_EXPERT_COUNT_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
_STATE_SPACE_FIELDS = ("state_size", "ssm_state_size", "d_state", "mamba_d_state")

_MODALITY_BY_FAMILY = {
    "vision": "image",
    "vision-text": "image-text",
    "speech/audio": "audio",
    "video": "video",
}


def _is_moe(config: dict) -> bool:
    counts = [config.get(name) for name in _EXPERT_COUNT_FIELDS]
    return any(isinstance(count, int) and count > 1 for count in counts)


def _has_sub_configs(config: dict, *names: str) -> bool:
    return all(isinstance(config.get(name), dict) for name in names)


def classify_family(model_type: str, tasks: set[str], config: dict) -> str:
    """One family per type; the most specific evidence wins (compute pattern before modality)."""
    if any(name in config for name in _STATE_SPACE_FIELDS) or model_type in {"rwkv", "xlstm"}:
        return "state-space"
    if _is_moe(config):
        return "moe"
    if "diffusion" in model_type:
        return "diffusion"
    if "for_video_classification" in tasks or "video" in model_type:
        return "video"
    if tasks & _AUDIO_TASKS:
        return "speech/audio"
    if tasks & _VISION_TEXT_TASKS or _has_sub_configs(config, "text_config", "vision_config"):
        return "vision-text"
    if tasks & _VISION_TASKS:
        return "vision"
    if "for_seq_to_seq_causal_lm" in tasks or config.get("is_encoder_decoder"):
        return "encoder-decoder"
    # BERT-likes also register a causal-LM head; a masked-LM head marks the encoder.
    if "for_masked_lm" in tasks:
        return "encoder"
    if "for_causal_lm" in tasks:
        return "decoder"
    if tasks & _TEXT_ENCODER_TASKS:
        return "encoder"
    return _family_from_name(model_type)


def _family_from_name(model_type: str) -> str:
    """Sub-model types (`*_vision_model`, `*_audio`, `*_text`) register no task head of their own."""
    if any(word in model_type for word in ("audio", "speech", "asr", "encodec", "mimi", "dac")):
        return "speech/audio"
    if model_type.endswith(("_vision", "_vision_model", "_vision_encoder")):
        return "vision"
    if model_type.endswith("_text"):
        return "decoder"
    return "other"


def modality_for(family: str, tasks: set[str]) -> str:
    if family in _MODALITY_BY_FAMILY:
        return _MODALITY_BY_FAMILY[family]
    if tasks & _TIME_SERIES_TASKS:
        return "time-series"
    if family == "other" and not tasks & _TEXT_ENCODER_TASKS:
        return "other"
    return "text"
