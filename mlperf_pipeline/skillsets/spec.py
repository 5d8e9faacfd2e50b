"""What a skillset knows about one model type: its tiny overrides, its size, where it can run."""

from __future__ import annotations

import math
import pprint
from dataclasses import dataclass, field

from mlperf_pipeline.catalog.catalog import CatalogEntry
from mlperf_pipeline.hardware.detect import HARDWARE
from mlperf_pipeline.hardware.dtypes import DTYPES_BY_HARDWARE, can_time
from mlperf_pipeline.skillsets.runtime import SkillsetInfo

# Weights plus activations and allocator slack: a model needs about this many bytes per parameter
# in float32 before it is worth launching.
BYTES_PER_PARAM_WITH_HEADROOM = 4 * 1.5


@dataclass
class SkillsetSpec:
    entry: CatalogEntry
    tiny_overrides: dict
    params: dict[str, int | None]
    transformers_version: str
    build_errors: dict[str, str] = field(default_factory=dict)
    build_error_codes: dict[str, str] = field(default_factory=dict)  # reason_code per size; default invalid_config

    @property
    def model_type(self) -> str:
        return self.entry.model_type

    @property
    def filename(self) -> str:
        return self.filename_for(self.entry.partition_key)

    @staticmethod
    def filename_for(partition_key: str) -> str:
        return f"hf_{partition_key.replace('-', '_').replace('.', '_')}.py"

    def info(self) -> SkillsetInfo:
        return SkillsetInfo(
            self.entry.model_type, self.entry.model_class, self.entry.family, self.entry.modality, self.tiny_overrides
        )


@dataclass(frozen=True)
class Verdict:
    hardware: str
    present: bool
    dtypes: tuple[str, ...]
    sizes: dict[str, str | None]  # size -> None when runnable, else a reason_code
    reason: str | None

    def runnable(self, size: str) -> bool:
        return self.present and self.sizes.get(size) is None

    def to_dict(self) -> dict:
        return {
            "hardware": self.hardware,
            "present": self.present,
            "dtypes": list(self.dtypes),
            "sizes": dict(self.sizes),
            "reason": self.reason,
        }


def verdict_for(spec: SkillsetSpec, hardware: str, present: bool, memory_bytes: int | None) -> Verdict:
    """Whether the skillset can run on `hardware` at each size, and why not where it cannot."""
    if hardware not in HARDWARE:
        raise ValueError(f"unknown hardware {hardware!r}: expected one of {', '.join(HARDWARE)}")
    if not present:
        return Verdict(
            hardware,
            False,
            (),
            {"tiny": "hardware_absent", "full": "hardware_absent"},
            f"no {hardware} device on this host",
        )
    if not can_time(hardware):
        unsupported = {"tiny": "unsupported_hardware", "full": "unsupported_hardware"}
        return Verdict(hardware, True, (), unsupported, f"the bench has no timer for {hardware} yet")
    sizes: dict[str, str | None] = {}
    reasons = []
    for size in ("tiny", "full"):
        if spec.build_errors.get(size):
            sizes[size] = spec.build_error_codes.get(size, "invalid_config")
            reasons.append(f"{size}: {spec.build_errors[size]}")
        elif memory_bytes and (spec.params[size] or 0) * BYTES_PER_PARAM_WITH_HEADROOM > memory_bytes:
            sizes[size] = "too_large"
            reasons.append(
                f"{size}: {spec.params[size] / 1e9:.1f} B parameters need about "
                f"{spec.params[size] * BYTES_PER_PARAM_WITH_HEADROOM / 2**30:.0f} GiB, cap is {memory_bytes / 2**30:.0f} GiB"
            )
        else:
            sizes[size] = None
    return Verdict(hardware, True, DTYPES_BY_HARDWARE[hardware], sizes, "; ".join(reasons) or None)


class _NonFinite(float):
    """A float whose repr is Python that evaluates to it: `float("inf")`, not the bare `inf`."""

    def __repr__(self) -> str:
        return f'float("{float.__repr__(self)}")'


def _evaluable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return _NonFinite(value)
    if isinstance(value, dict):
        return {key: _evaluable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_evaluable(item) for item in value)
    return value


def literal(value) -> str:
    """A Python literal that reads well in a generated module (non-finite floats included)."""
    return pprint.pformat(_evaluable(value), indent=1, width=100, sort_dicts=True)
