"""Shrink a library default config to a `tiny` one that builds and runs in seconds.

The value rules (`values`) act on field names shared across the library (`fields`: layers,
heads, widths, stage lists, with their tiny caps) and recurse into nested sub-configs
(text/vision/audio, encoder/decoder). After the plain shrink, the consistency passes
(`passes/`, run in `core.PASS_ORDER`) restore the invariants configs check or models assume:
per-layer lists follow the kept layers, heads divide widths, rotary sections fit the head size,
backbone stage names exist. Only changed fields are returned (`ladder.tiny_overrides`), so a
generated skillset shows exactly what differs from the library default; `ladder` also lists the
milder rungs to try when the fullest shrink does not build or run.

Nothing here builds a model to check a rung, and nothing imports the rest of `skillsets`.
"""

from mlperf_pipeline.skillsets.shrink.core import PASS_ORDER, shrink_config_dict
from mlperf_pipeline.skillsets.shrink.fields import MILDNESS_LEVELS, TINY_VOCAB
from mlperf_pipeline.skillsets.shrink.ladder import MAX_TINY_PARAMS, ladder_candidates, overrides_at, tiny_overrides

__all__ = [
    "MAX_TINY_PARAMS",
    "MILDNESS_LEVELS",
    "PASS_ORDER",
    "TINY_VOCAB",
    "ladder_candidates",
    "overrides_at",
    "shrink_config_dict",
    "tiny_overrides",
]
