"""The shrink ladder: the candidate tiny overrides of one config, fullest shrink first.

Each rung is milder than the one before (`fields.MILDNESS_LEVELS`); a last-resort variant keeps
the default head counts. Choosing among them needs a model built and run, which is the checks'
business (`skillsets.checks`, `skillsets.generate.checked_specs`): nothing here builds a model.
"""

from __future__ import annotations

import copy

from mlperf_pipeline.skillsets.shrink.core import shrink_config_dict
from mlperf_pipeline.skillsets.shrink.fields import KEEP_HEADS, MILDNESS, MILDNESS_LEVELS

# A milder rung keeps more of the full model: never accept one this large for a `tiny` size.
MAX_TINY_PARAMS = 60_000_000


def overrides_at(default_config: dict, mildness: int) -> dict:
    """The fields a shrink at `mildness` changes (nested sub-configs given whole)."""
    token = MILDNESS.set(mildness)
    try:  # on a copy: the passes edit nested sub-config dicts in place, and the caller's must not change
        shrunk = shrink_config_dict(copy.deepcopy(default_config))
    finally:
        MILDNESS.reset(token)
    return {name: value for name, value in shrunk.items() if value != default_config.get(name)}


def tiny_overrides(default_config: dict) -> dict:
    """Only the fields that differ between the default and the fullest tiny shrink (rung 0).

    A changed nested sub-config is given whole: a partial dict would reset its other fields to
    the sub-config class defaults, which composite models often override. Which rung a skillset
    keeps is decided by checking the rungs (`skillsets.generate.checked_specs`), not here.
    """
    return overrides_at(default_config, 0)


def _keep_heads_overrides(default_config: dict) -> dict:
    token = KEEP_HEADS.set(True)
    try:
        return overrides_at(default_config, 0)
    finally:
        KEEP_HEADS.reset(token)


def ladder_candidates(default_config: dict) -> tuple[list[dict], int]:
    """The distinct tiny overrides to try, fullest shrink first, and where the last resort starts.

    First the rungs of the mildness ladder (full shrink, keep stage widths, keep widths, cut
    layers only); then, as a last resort, the full shrink with the default head counts kept (for
    attention code that hard-codes a head split). Returns (candidates, index of the last resort)."""
    candidates: list[dict] = []
    for mildness in MILDNESS_LEVELS:
        overrides = overrides_at(default_config, mildness)
        if overrides not in candidates:
            candidates.append(overrides)
    rungs = len(candidates)
    keep_heads = _keep_heads_overrides(default_config)
    if keep_heads not in candidates:
        candidates.append(keep_heads)
    return candidates, rungs
