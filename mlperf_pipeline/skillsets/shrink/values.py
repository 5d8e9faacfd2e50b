"""Value rules: the tiny value of one config field, by its name and its type.

Integers are capped by the field groups of `fields.INT_CAPS`; integer lists that give a value
per stage (depths, widths, heads) get tiny stages. Which fields a rung of the ladder leaves alone
is `fields.skipped_by_mildness`.
"""

from __future__ import annotations

import copy
from typing import Any

from mlperf_pipeline.skillsets.shrink.fields import (
    CONV_WIDTH_FIELDS,
    HEAD_FIELDS,
    INT_CAPS,
    KEEP_HEADS,
    KV_HEAD_FIELDS,
    STAGE_DEPTH_FIELDS,
    STAGE_HEAD_FIELDS,
    STAGE_WIDTH_FIELDS,
    TINY_KV_HEADS,
    skipped_by_mildness,
)
from mlperf_pipeline.skillsets.shrink.lookups import is_int_list

# Fields that size one stack by another's width: cross-attention sizes (`cross_hidden_size`)
# mirror the fields of the stack they attend to, so they are capped as those fields are.
MIRRORED_FIELD_PREFIXES = ("cross_",)


def _mirrored_field(name: str) -> str:
    """The field a name mirrors (`cross_hidden_size` -> `hidden_size`), or the name itself."""
    for prefix in MIRRORED_FIELD_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _shrink_int(name: str, value: int) -> int:
    name = _mirrored_field(name)
    if skipped_by_mildness(name) or KEEP_HEADS.get() and name in HEAD_FIELDS | KV_HEAD_FIELDS:
        return value
    cap = next((cap for fields, cap in INT_CAPS if name in fields), None)
    return value if cap is None else min(value, cap)


def _shrink_list(name: str, values: list) -> list:
    if not is_int_list(values) or skipped_by_mildness(name):
        return values
    if name in STAGE_DEPTH_FIELDS:
        return [1 for _ in values]
    if name in STAGE_WIDTH_FIELDS:
        # Multiples of 32 so that group norms with 32 groups still divide every stage.
        return [32 * 2**stage for stage in range(len(values))]
    if name in STAGE_HEAD_FIELDS:
        return [2**stage for stage in range(len(values))]
    if name in CONV_WIDTH_FIELDS:
        return [32 for _ in values]
    if "key_value_heads" in name:  # per-layer kv-head counts (Sapiens2)
        return [min(value, TINY_KV_HEADS) for value in values]
    return values


def shrink_value(name: str, value: Any) -> Any:
    """One field's tiny value by its name (nested sub-configs are `core.shrink_config_dict`'s)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _shrink_int(name, value)
    if isinstance(value, list):
        return _shrink_list(name, value)
    if isinstance(value, dict):
        return copy.deepcopy(value)  # consistency passes edit it; the default must stay intact
    return value
