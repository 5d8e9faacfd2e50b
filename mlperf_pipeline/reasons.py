"""The one list of result statuses and reason codes, shared by every package that writes them.

A skillset check, the stop rule, the bench runner and the results schema all say why a row is
not `ok` with one of these codes; the store rejects any other. Members are `str`s (they compare,
hash, print and serialise as their values), so rows and JSON files keep plain strings.
"""

from __future__ import annotations

from enum import Enum


class _TextEnum(str, Enum):
    """A `str` enum whose `str()` and f-string form are its value (like 3.11's `StrEnum`)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Status(_TextEnum):
    OK = "ok"
    INVALID = "invalid"  # measured, but the numbers do not meet the stop rule
    FAILED = "failed"  # could not be measured (build, run, crash, hang, ...)
    SKIPPED = "skipped"  # not attempted here (hardware absent, dtype unsupported, too large)


class ReasonCode(_TextEnum):
    # why a skillset cannot build or run (the smoke check and the bench child)
    MISSING_DEPENDENCY = "missing_dependency"
    UNSUPPORTED_INPUTS = "unsupported_inputs"
    INVALID_CONFIG = "invalid_config"
    LIBRARY_ERROR = "library_error"
    NON_FINITE_OUTPUT = "non_finite_output"
    TOO_LARGE = "too_large"
    # why a benchmark process ended badly (the runner)
    CRASH = "crash"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    # why a measurement is not `ok` (the stop rule)
    TOO_NOISY = "too_noisy"
    TOO_FEW_SAMPLES = "too_few_samples"
    # the processes of one configuration disagree more than the target allows
    UNSTABLE_BETWEEN_RUNS = "unstable_between_runs"
    # why nothing was attempted
    HARDWARE_ABSENT = "hardware_absent"
    UNSUPPORTED_DTYPE = "unsupported_dtype"
    UNSUPPORTED_HARDWARE = "unsupported_hardware"
    # the configuration cannot reach a verdict within its time budget (estimated from its FLOPs)
    TOO_SLOW = "too_slow"


STATUSES: tuple[str, ...] = tuple(status.value for status in Status)
REASON_CODES: frozenset[str] = frozenset(code.value for code in ReasonCode)
