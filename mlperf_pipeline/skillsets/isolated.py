"""Skillset checks in isolated processes: `isolation.calls.IsolatedCalls` with what a check needs preloaded.

Each call runs in its own child of a fork server (`mlperf_pipeline.isolation`), so that a model
that segfaults, hangs or eats memory while it is built and run once cannot take down the caller.
The server imports torch, transformers, the skillset runtime and the given model modules once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from mlperf_pipeline.isolation import calls

DEFAULT_PRELOAD = ("torch", "transformers", "mlperf_pipeline.skillsets.runtime")


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
