"""Skillset checks in isolated processes: `isolation.calls.IsolatedCalls` with what a check needs preloaded.

Each call runs in its own child of a fork server (`mlperf_pipeline.isolation`), so that a model
that segfaults, hangs or eats memory while it is built and run once cannot take down the caller.
The server imports torch, transformers, the skillset runtime and the given model modules once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from mlperf_pipeline.isolation import calls

# What every check and count imports on its first model, once in the server rather than in each
# child: transformers' model base (it pulls in torch.distributed, generation, quantizers), the
# FLOP counter (sympy, torch._dynamo) and scipy. Without them a child spent ~2 s importing 1,400
# modules before its first count (0.1-1.6 s of work); with them a catalogue count is ~3x faster.
DEFAULT_PRELOAD = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "transformers.masking_utils",
    "transformers.modeling_layers",
    "transformers.processing_utils",
    "torch.utils.flop_counter",
    "scipy.optimize",
    "mlperf_pipeline.skillsets.runtime",
    "mlperf_pipeline.skillsets.runtime.counting",
)


def model_modules(model_classes) -> list[str]:
    """The transformers modules defining these classes, found without importing them (for preloading)."""
    import transformers

    where = getattr(transformers, "_class_to_module", {})
    return sorted({f"transformers.{where[name]}" for name in model_classes if name in where})


class IsolatedCalls(calls.IsolatedCalls):
    """At most `jobs` child processes at a time, each killed at its deadline; torch and transformers preloaded."""

    def __init__(
        self,
        jobs: int = 2,
        timeout_s: float = 120.0,
        memory_cap_bytes: int | None = None,
        preload: Iterable[str] = DEFAULT_PRELOAD,
        guard: Callable[[], AbstractContextManager] | None = None,
    ):
        super().__init__(jobs, timeout_s, memory_cap_bytes, preload, guard)
