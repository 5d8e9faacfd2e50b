"""One real tiny model, as the coverage sweep makes it: spec (shrink rung chosen by the pipeline's ladder walk, checks in this process), build, inputs, one forward."""

import torch

from mlperf_pipeline.skillsets.generate import spec_for
from mlperf_pipeline.skillsets.runtime import build_model, first_tensor, is_finite, make_inputs


def run_tiny(model_type: str, seq_len: int = 32, max_params: int = 10_000_000):
    """Returns (spec, model, inputs) after checking the output is finite and the model stays tiny."""
    spec = spec_for(model_type)
    assert not spec.build_errors.get("tiny"), spec.build_errors
    model = build_model(spec.info(), "tiny", "cpu", "float32")
    inputs = make_inputs(model, spec.info(), 1, seq_len, "cpu", "float32")
    with torch.inference_mode():
        output = model(**inputs)
    assert first_tensor(output) is not None
    assert is_finite(output)
    assert sum(p.numel() for p in model.parameters()) < max_params
    return spec, model, inputs
