"""The runtime that generated skillsets import: building models offline and making valid inputs.

A skillset module stays small and readable; the shared mechanics live here. Nothing here
downloads anything: models are built from library configs with seeded random weights.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass
from typing import Any

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}
SEED = 0
# wav2vec2-style feature encoders downsample raw audio by the product of their conv strides.
_DEFAULT_AUDIO_SAMPLES_PER_TOKEN = 320


class UnsupportedInputs(Exception):
    """The model's forward needs an input this runtime cannot build."""


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

    if size not in ("tiny", "full"):
        raise ValueError(f"unknown size {size!r}: expected 'tiny' or 'full'")
    overrides = info.tiny_overrides if size == "tiny" else {}
    config = AutoConfig.for_model(info.model_type, **overrides)
    # Eager attention keeps FLOP counting honest and behaves the same on every device.
    config._attn_implementation = "eager"
    return config


def model_class(info: SkillsetInfo):
    import transformers

    return getattr(transformers, info.model_class)


def build_model(info: SkillsetInfo, size: str = "tiny", device: str = "cpu", dtype: str = "float32"):
    """A randomly initialised, seeded model in eval mode on `device` (no download, no remote code)."""
    import torch

    torch.manual_seed(SEED)
    config = build_config(info, size)
    model = model_class(info)._from_config(config, dtype=torch_dtype(dtype))
    return model.to(device).eval()


def count_parameters_on_meta(info: SkillsetInfo, size: str) -> int:
    """Parameter count without allocating memory: the model is built on the meta device."""
    import torch

    config = build_config(info, size)
    with torch.device("meta"):
        model = model_class(info)._from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


def _sub(config, *names):
    for name in names:
        sub_config = getattr(config, name, None)
        if sub_config is not None:
            return sub_config
    return config


def _image_shape(config) -> tuple[int, int, int]:
    vision = _sub(config, "vision_config", "encoder")
    size = getattr(vision, "image_size", None) or getattr(config, "image_size", None) or 224
    height, width = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    channels = getattr(vision, "num_channels", None) or getattr(config, "num_channels", 3)
    return channels, height, width


def _vocab_size(config) -> int:
    text = _sub(config, "text_config", "decoder")
    return getattr(text, "vocab_size", None) or getattr(config, "vocab_size", None) or 1000


def _token_ids(config, batch_size: int, seq_len: int, generator):
    import torch

    # Stay clear of special ids at the top of some vocabularies.
    high = max(2, min(_vocab_size(config), 30000) - 1)
    return torch.randint(1, high, (batch_size, seq_len), generator=generator)


def _input_builders(config, batch_size: int, seq_len: int, generator) -> dict[str, Any]:
    import torch

    def pixel_values():
        return torch.randn((batch_size, *_image_shape(config)), generator=generator)

    def input_features():
        mel_bins = getattr(config, "num_mel_bins", None) or getattr(config, "feature_size", 80)
        frames = 2 * getattr(config, "max_source_positions", seq_len)
        return torch.randn((batch_size, mel_bins, frames), generator=generator)

    def input_values():
        samples = seq_len * _DEFAULT_AUDIO_SAMPLES_PER_TOKEN
        return torch.randn((batch_size, samples), generator=generator)

    def decoder_input_ids():
        start = getattr(config, "decoder_start_token_id", None) or 0
        ids = _token_ids(config, batch_size, max(1, seq_len // 4), generator)
        ids[:, 0] = start
        return ids

    return {
        "input_ids": lambda: _token_ids(config, batch_size, seq_len, generator),
        "attention_mask": lambda: torch.ones((batch_size, seq_len), dtype=torch.long),
        "pixel_values": pixel_values,
        "input_features": input_features,
        "input_values": input_values,
        "decoder_input_ids": decoder_input_ids,
    }


def _required_parameters(forward) -> list[str]:
    parameters = inspect.signature(forward).parameters.values()
    return [p.name for p in parameters if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _wanted_inputs(model, info: SkillsetInfo) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    wanted = [main]
    if info.modality in ("image-text",) and "input_ids" in accepted:
        wanted += ["input_ids", "pixel_values"]
    if "attention_mask" in accepted and "input_ids" in wanted + [main] and main == "input_ids":
        wanted.append("attention_mask")
    if getattr(model.config, "is_encoder_decoder", False) and "decoder_input_ids" in accepted:
        wanted.append("decoder_input_ids")
    wanted += [name for name in _required_parameters(model.forward) if name != "self"]
    return [name for name in dict.fromkeys(wanted) if name in accepted]


def effective_seq_len(config, seq_len: int) -> int:
    """The requested length, capped at the text model's position limit (CLIP's text tower takes 77)."""
    text = _sub(config, "text_config")
    limit = getattr(text, "max_position_embeddings", None)
    return min(seq_len, limit) if isinstance(limit, int) and limit > 0 else seq_len


def make_inputs(model, info: SkillsetInfo, batch_size: int = 1, seq_len: int = 128, device: str = "cpu", dtype: str = "float32") -> dict:
    """Valid random inputs for the model's modality; float inputs take the model's dtype.

    Text inputs use `effective_seq_len`: the stored row records the length actually used.
    """
    import torch

    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be positive, got {batch_size} and {seq_len}")
    seq_len = effective_seq_len(model.config, seq_len)
    generator = torch.Generator().manual_seed(SEED)
    builders = _input_builders(model.config, batch_size, seq_len, generator)
    inputs = {}
    for name in _wanted_inputs(model, info):
        if name not in builders:
            raise UnsupportedInputs(f"{info.model_class}.forward needs {name!r}, which no input builder makes")
        value = builders[name]()
        inputs[name] = value.to(device=device, dtype=torch_dtype(dtype)) if value.is_floating_point() else value.to(device)
    return inputs


def first_tensor(output):
    """The first tensor in a model output, for the finiteness check."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if hasattr(output, "values") else output
    for value in values:
        found = first_tensor(value) if not isinstance(value, torch.Tensor) else value
        if found is not None:
            return found
    return None


def run_standalone(info: SkillsetInfo, hardware: str, size: str, batch_size: int, seq_len: int, dtype: str, iterations: int) -> dict:
    """What `python hf_<type>.py` does: build, run a few forwards, report timing and sanity."""
    import torch

    device = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "mps": "mps", "xpu": "xpu"}[hardware]
    started = time.perf_counter()
    model = build_model(info, size, device, dtype)
    build_s = time.perf_counter() - started
    inputs = make_inputs(model, info, batch_size, seq_len, device, dtype)
    latencies_ms = []
    with torch.inference_mode():
        for _ in range(iterations):
            call_started = time.perf_counter()
            output = model(**inputs)
            latencies_ms.append((time.perf_counter() - call_started) * 1000)
    tensor = first_tensor(output)
    return {
        "model_type": info.model_type,
        "hardware": hardware,
        "size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "build_s": round(build_s, 3),
        "latency_ms_median": round(sorted(latencies_ms)[len(latencies_ms) // 2], 3),
        "iterations": iterations,
        "finite": bool(tensor is None or torch.isfinite(tensor.float()).all()),
    }


def standalone_main(info: SkillsetInfo, argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=f"Run the {info.model_type} skillset once and print a JSON result.")
    parser.add_argument("--hardware", default="cpu", choices=["cpu", "cuda", "rocm", "mps", "xpu"])
    parser.add_argument("--size", default="tiny", choices=["tiny", "full"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    result = run_standalone(info, args.hardware, args.size, args.batch_size, args.seq_len, args.dtype, args.iterations)
    print(json.dumps(result))
    return 0 if result["finite"] else 1
