"""Why a skillset cannot build or run: the runtime's own exceptions, the finite-output check and
the classification of any exception into one closed-set reason code (out of memory included)."""

from __future__ import annotations

from mlperf_pipeline.reasons import ReasonCode


class UnsupportedInputs(Exception):
    """The model's forward needs an input this runtime cannot build."""


class NonFiniteOutput(Exception):
    """The forward pass returned NaN or inf: fast but wrong must not pass."""


# Optional packages some architectures need that cannot be installed beside our pinned torch.
_OPTIONAL_PACKAGES = (
    "torchvision",
    "torchaudio",
    "timm",
    "detectron2",
    "natten",
    "pytesseract",
    "scipy",
    "librosa",
    "causal_conv1d",
    "mamba_ssm",
    "flash_attn",
)


def reason_code(error: BaseException) -> ReasonCode:
    """The closed-set reason for an exception raised while building or running a skillset."""
    if isinstance(error, UnsupportedInputs):
        return ReasonCode.UNSUPPORTED_INPUTS
    if isinstance(error, NonFiniteOutput) or type(error).__name__ == "NonFiniteOutput":
        return ReasonCode.NON_FINITE_OUTPUT
    if _is_missing_dependency(error):
        return ReasonCode.MISSING_DEPENDENCY
    if is_out_of_memory(error):
        return ReasonCode.TOO_LARGE
    if _raised_by_config(error) and not _model_reads_missing_config_field(error):
        return ReasonCode.INVALID_CONFIG
    return ReasonCode.LIBRARY_ERROR


def is_out_of_memory(error: BaseException) -> bool:
    """A `MemoryError`, or an error whose message says "out of memory" (torch's CUDA and MPS allocators).

    The smoke check reads it as a model too large to try (`too_large`); the bench child, whose
    process has a memory cap, as that cap being hit (`out_of_memory`)."""
    return isinstance(error, MemoryError) or "out of memory" in str(error).lower()


def _is_missing_dependency(error: BaseException) -> bool:
    if isinstance(error, ImportError):
        return True
    # transformers' `requires_backends` and some model files say so in words instead.
    message = str(error).lower()
    return any(
        f"requires the {name}" in message or f"no module named '{name}" in message for name in _OPTIONAL_PACKAGES
    )


def _raised_by_config(error: BaseException) -> bool:
    """True when the innermost frame is config code: the config itself is inconsistent."""
    frame = error.__traceback__
    if frame is None or _model_reads_missing_config_field(error):
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    path = frame.tb_frame.f_code.co_filename.replace("\\", "/")
    # huggingface_hub's strict dataclasses validate config fields on construction.
    return "/configuration_" in path or path.endswith(("configuration_utils.py", "huggingface_hub/dataclasses.py"))


def _model_reads_missing_config_field(error: BaseException) -> bool:
    """Model code asking the default config for a field its class never defines (MusicGen's
    `dropout`, Qwen3-Omni's talker, Qwen2.5-Omni's thinker reading `vision_start_token_id`) is a
    library bug, not an inconsistent config, though config code raises it."""
    if not isinstance(error, AttributeError) or "object has no attribute" not in str(error):
        return False
    frame = error.__traceback__
    while frame is not None:
        if "/modeling_" in frame.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.tb_next
    return False


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


def is_finite(output) -> bool:
    """False when the output's first tensor is floating point and holds NaN or inf. An output
    without tensors, or whose first tensor is integral (ids, labels), counts as finite."""
    import torch

    tensor = first_tensor(output)
    return tensor is None or not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())


def check_finite(output) -> None:
    """Raise `NonFiniteOutput` where `is_finite(output)` is false."""
    if not is_finite(output):
        raise NonFiniteOutput("model output holds NaN or inf")
