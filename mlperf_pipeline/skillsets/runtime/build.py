"""Building models offline: a library config with the skillset's overrides, seeded random weights."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from mlperf_pipeline.sizes import SIZES
from mlperf_pipeline.skillsets.runtime.lookups import SUB_CONFIG_NAMES

DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
SEED = 0


@dataclass(frozen=True)
class SkillsetInfo:
    model_type: str
    model_class: str
    family: str
    modality: str
    tiny_overrides: dict


def torch_dtype(name: str):
    import torch

    try:
        return getattr(torch, DTYPES[name])
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}: expected one of {sorted(DTYPES)}") from None


def build_config(info: SkillsetInfo, size: str):
    from transformers import AutoConfig

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected {' or '.join(map(repr, SIZES))}")
    overrides = info.tiny_overrides if size == "tiny" else {}
    config = AutoConfig.for_model(info.model_type, **overrides)
    _int_tuples_as_lists(config, info)
    # Eager attention keeps FLOP counting honest and behaves the same on every device.
    config._attn_implementation = "eager"
    return config


def _int_tuples_as_lists(config, info: SkillsetInfo) -> None:
    """Config dataclasses keep some list defaults as tuples, which a few models append to a list
    (ViTMatte's `[config.hidden_size] + config.fusion_hidden_sizes`): those become lists, as in
    saved configs. Only those: others (Reformer) add tuples to tuples."""
    import sys

    tuples = [
        name
        for name, value in vars(config).items()
        if isinstance(value, tuple)
        and value
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    ]
    if not tuples:
        return
    try:
        source = inspect.getsource(sys.modules[model_class(info).__module__])
    except (AttributeError, KeyError, OSError, TypeError):
        return
    for name in tuples:
        if re.search(r"\]\s*\+\s*(?:self\.)?config\." + re.escape(name) + r"\b", source):
            setattr(config, name, list(getattr(config, name)))


def model_class(info: SkillsetInfo):
    import transformers

    return getattr(transformers, info.model_class)


def build_model(info: SkillsetInfo, size: str = "tiny", device: str = "cpu", dtype: str = "float32", config=None):
    """A randomly initialised, seeded model in eval mode on `device` (no download, no remote code),
    from `build_config(info, size)` or from `config`, one made from it (e.g. cut to fewer layers)."""
    import torch

    torch.manual_seed(SEED)
    config = _config_for_class(model_class(info), build_config(info, size) if config is None else config)
    model = model_class(info)._from_config(config, dtype=torch_dtype(dtype))
    return model.to(device).eval()


def _config_for_class(cls, config):
    """A base class that is one tower of a composite config (MusicgenModel is Musicgen's decoder)
    is built from the sub-config of its own config class."""
    wanted = getattr(cls, "config_class", None)
    if not isinstance(wanted, type) or isinstance(config, wanted):
        return config
    for name in SUB_CONFIG_NAMES:
        sub_config = getattr(config, name, None)
        if isinstance(sub_config, wanted):
            sub_config._attn_implementation = config._attn_implementation
            return sub_config
    return config


def count_parameters_on_meta(info: SkillsetInfo, size: str) -> int:
    """The number of parameters of the model `build_model(info, size)` makes, without allocating
    any memory or initialising weights.

    The model is built from the same config (`build_config`, and the sub-config of a tower class,
    as `build_model` picks it) inside `torch.device("meta")`, so every parameter has a shape but no
    storage: counting a full-size model costs about as much as building its tiny one. Tied weights
    count once (`model.parameters()` yields each shared tensor once). Anything that inspects a
    model's structure without running it (a FLOP count from shapes) can build it the same way.
    Raises what building raises: a config or library error, a missing dependency.
    """
    import torch

    config = _config_for_class(model_class(info), build_config(info, size))
    with torch.device("meta"):
        model = model_class(info)._from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())
