"""Consistency passes by concern; importing this package registers every one of them."""

from mlperf_pipeline.skillsets.shrink.passes import (  # noqa: F401  (imported to register)
    attention,
    audio,
    layers,
    moe_ssm,
    multimodal,
    rope,
    time_series,
    vision,
    vocab,
)
