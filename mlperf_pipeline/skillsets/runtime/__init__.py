"""The runtime that generated skillsets import: building models offline and making valid inputs.

A skillset module stays small and readable; the shared mechanics live here. Nothing here
downloads anything: models are built from library configs with seeded random weights.

- `build`: the skillset's info, dtypes, configs, models and their meta-device parameter count;
- `inputs`: one registered builder per forward input name, and `make_inputs`;
- `lookups` and `introspect`: what a config and a model say about those inputs;
- `reasons`: the runtime's exceptions, the finite-output check and the reason code of a failure;
- `standalone`: what `python hf_<type>.py` runs.
"""

from mlperf_pipeline.skillsets.runtime.build import (
    DTYPES,
    SEED,
    SkillsetInfo,
    build_config,
    build_model,
    count_parameters_on_meta,
    model_class,
    torch_dtype,
)
from mlperf_pipeline.skillsets.runtime.inputs import make_inputs
from mlperf_pipeline.skillsets.runtime.lookups import effective_seq_len
from mlperf_pipeline.skillsets.runtime.reasons import (
    NonFiniteOutput,
    UnsupportedInputs,
    check_finite,
    first_tensor,
    is_finite,
    is_out_of_memory,
    reason_code,
)
from mlperf_pipeline.skillsets.runtime.standalone import run_standalone, standalone_main

__all__ = [
    "DTYPES",
    "SEED",
    "NonFiniteOutput",
    "SkillsetInfo",
    "UnsupportedInputs",
    "build_config",
    "build_model",
    "check_finite",
    "count_parameters_on_meta",
    "effective_seq_len",
    "first_tensor",
    "is_finite",
    "is_out_of_memory",
    "make_inputs",
    "model_class",
    "reason_code",
    "run_standalone",
    "standalone_main",
    "torch_dtype",
]
