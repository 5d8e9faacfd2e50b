"""The benchmark's fork servers: `isolation.forkserver.ForkServerPool` preloading what a benchmark child imports.

A server imports torch, transformers, the benchmark child and the skillset runtime, and looks up
each model class of the range (transformers imports a model's module on first access; nothing is
built). One server per OpenMP wait policy and slot (see the pool); `runner.run_isolated` forks
each benchmark process from one and falls back to a new interpreter when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlperf_pipeline.isolation import forkserver

__all__ = ["BENCH_PRELOAD", "ForkServerPool"]

BENCH_PRELOAD = (
    "torch",
    "transformers",
    "mlperf_pipeline.bench.child",
    "mlperf_pipeline.bench.stop_rule",
    "mlperf_pipeline.bench.trackers",
    "mlperf_pipeline.skillsets.runtime",
)


class ForkServerPool(forkserver.ForkServerPool):
    """Fork servers by (OpenMP wait policy, slot), started on first use, preloading `model_classes`."""

    def __init__(
        self,
        environment_for: Callable[[str], dict[str, str]],
        model_classes: Iterable[str] | None = None,
        log=None,
        slots: int = forkserver.DEFAULT_SLOTS,
    ):
        """`environment_for(policy)`: the server's environment (`runner.child_environment`)."""
        model_classes = sorted(set(model_classes or []))
        preload = [*BENCH_PRELOAD, *(f"transformers:{name}" for name in model_classes)]
        super().__init__(environment_for, preload, log, slots=slots)
