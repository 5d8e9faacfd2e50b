"""Valid random inputs for a model's forward, one registered builder per input name.

Importing this package registers every builder: each modality module below fills the registry
of `base` with `@builds(name, ...)` as it is imported.
"""

from mlperf_pipeline.skillsets.runtime.inputs import audio, multimodal, other, text, time_series, vision  # noqa: F401
from mlperf_pipeline.skillsets.runtime.inputs.base import (
    InputContext,
    builds,
    has_builder,
    make_inputs,
    registered_inputs,
)

__all__ = ["InputContext", "builds", "has_builder", "make_inputs", "registered_inputs"]
