"""Vision-language types that the shrink rules and input builders make run at tiny size (no mocks)."""

import pytest

from mlperf_pipeline.skillsets.shrink import shrink_config_dict

from mlperf_pipeline_tests.skillsets.tiny import run_tiny


def image_tokens(model, inputs) -> int:
    return int((inputs["input_ids"] == model.config.image_token_id).sum())


def test_projection_into_the_text_model_follows_the_text_width():
    spec, model, inputs = run_tiny("paligemma")
    assert model.config.projection_dim == model.config.text_config.hidden_size
    assert image_tokens(model, inputs) == model.config.text_config.num_image_tokens


def test_retrieval_wrapper_places_tokens_for_its_inner_vision_language_model():
    spec, model, inputs = run_tiny("colpali")
    inner = model.vlm.config
    assert int((inputs["input_ids"] == inner.image_token_id).sum()) > 0


@pytest.mark.slow
def test_tiled_images_come_with_aspect_ratio_ids_and_masks():
    spec, model, inputs = run_tiny("mllama")
    tiles = model.config.vision_config.max_num_tiles
    assert inputs["pixel_values"].shape[:3] == (1, 1, tiles)
    assert inputs["aspect_ratio_ids"].tolist() == [[1]]
    assert inputs["aspect_ratio_mask"][0, 0].tolist() == [1] + [0] * (tiles - 1)
    vision = model.config.vision_config
    assert vision.vision_output_dim == vision.hidden_size * (len(vision.intermediate_layers_indices) + 1)


def test_pixel_shuffle_projector_and_unpooled_image_features():
    spec, model, inputs = run_tiny("llama4")
    vision = model.config.vision_config
    assert vision.projector_input_dim == vision.projector_output_dim == vision.vision_output_dim == vision.hidden_size
    assert image_tokens(model, inputs) > 0


def test_linear_patch_embedding_takes_flattened_patches():
    spec, model, inputs = run_tiny("fuyu")
    patch, channels = model.config.patch_size, model.config.num_channels
    assert inputs["pixel_values"].shape[-1] == channels * patch * patch


def test_image_list_and_query_token_video_inputs():
    _, _, inputs = run_tiny("idefics")
    assert inputs["pixel_values"].dim() == 5 and inputs["image_attention_mask"].shape[-1] == 1
    _, model, inputs = run_tiny("instructblipvideo")
    frames = inputs["pixel_values"].shape[1]
    placed = int((inputs["input_ids"] == model.config.video_token_id).sum())
    assert placed == model.config.num_query_tokens * frames


def test_rotary_sections_keep_the_sections_the_model_stacks_equal():
    spec, model, _ = run_tiny("ernie4_5_vl_moe")
    sections = model.config.text_config.rope_parameters["mrope_section"]
    assert sections[0] == sections[1]


def test_vision_feature_layers_and_patch_query_map_fit_the_shrunk_tower():
    config = shrink_config_dict(
        {
            "model_type": "vipllava",
            "vision_config": {"model_type": "clip_vision_model", "num_hidden_layers": 24},
            "vision_feature_layer": [-2, -5, -8, -11, 6],
        }
    )
    assert config["vision_feature_layer"] == [-2, -2, -2, -2, 1]
    config = shrink_config_dict(
        {
            "model_type": "aria",
            "vision_config": {"model_type": "x", "image_size": 224, "patch_size": 32},
            "projector_patch_to_query_dict": {1225: 128, 4900: 256},
        }
    )
    assert config["projector_patch_to_query_dict"][49] == 128
