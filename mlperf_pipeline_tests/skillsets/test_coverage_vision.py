"""Vision rules on real tiny models: declared backbones instead of timm, neck widths that follow
the backbone, image pairs, patch layouts of vision towers, and the extra inputs some models take."""

import pytest

from mlperf_pipeline_tests.skillsets.tiny import run_tiny


@pytest.mark.slow
def test_detr_uses_the_declared_library_backbone_instead_of_timm():
    spec, model, _ = run_tiny("detr")
    assert spec.tiny_overrides["backbone_config"]["model_type"] == "resnet"
    assert not any("Timm" in type(module).__name__ for module in model.modules())


@pytest.mark.slow
def test_neck_in_channels_follow_the_backbone_channels():
    spec, model, _ = run_tiny("pp_ocrv6_small_det")
    assert spec.tiny_overrides["layer_list_out_channels"] == list(model.backbone.channels)


def test_keypoint_matcher_gets_image_pairs():
    _, _, inputs = run_tiny("lightglue")
    assert inputs["pixel_values"].shape[:2] == (1, 2)


def test_final_blocks_stay_below_the_kept_layers():
    spec, model, _ = run_tiny("eomt")
    assert model.config.num_blocks < model.config.num_hidden_layers


@pytest.mark.parametrize(
    "model_type, shape",
    [
        ("inkling2_vision", (16, 40, 40, 3)),  # pixel blocks per merged token
        ("kimi_k25_vision", (4, 3, 14, 14)),  # patches as small images for a 2D conv
        ("gemma4_vision", (1, 36, 768)),  # patch rows with their (x, y) positions apart
    ],
)
def test_vision_towers_get_their_patch_layout(model_type, shape):
    _, _, inputs = run_tiny(model_type)
    assert tuple(inputs["pixel_values"].shape) == shape


@pytest.mark.slow
def test_region_features_and_boxes_beside_text():
    _, _, inputs = run_tiny("lxmert")
    assert inputs["visual_feats"].shape[:2] == inputs["visual_pos"].shape[:2]
    _, _, inputs = run_tiny("bros")
    boxes = inputs["bbox"]
    assert boxes.shape[-1] == 8 and (boxes[..., 4] > boxes[..., 0]).all() and (boxes[..., 5] > boxes[..., 1]).all()


def test_seggpt_prompt_and_image_stack_to_the_configured_height():
    _, model, inputs = run_tiny("seggpt")
    height = model.config.image_size[0]
    assert inputs["pixel_values"].shape[-2] * 2 == height == inputs["prompt_masks"].shape[-2] * 2


def test_model_concatenating_all_feature_maps_gets_every_stage():
    _, model, _ = run_tiny("uvdoc")
    backbone = model.config.backbone_config
    assert backbone.out_features == [name for name in backbone.stage_names if name != "stem"]
