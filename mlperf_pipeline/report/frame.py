"""Shared helpers for the report: normalising result rows and formatting cells.

Rows reach the report from DuckDB, Parquet or hand-built frames. Any column may be null or
even absent, and an all-null column arrives with object dtype, so every renderer starts from
`normalise()` instead of trusting the incoming dtypes.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlperf_pipeline.reasons import STATUSES, Status
from mlperf_pipeline.store import schema

# The `benchmark_results` columns of the data contract (DESIGN.md, section 4), from the schema.
RESULT_COLUMNS = tuple(name for name, _ in schema.RESULT_COLUMNS)
NUMERIC_COLUMNS = tuple(name for name, sql_type in schema.RESULT_COLUMNS if sql_type in ("INTEGER", "BIGINT", "DOUBLE"))

# Columns used to group and label rows; a null there would silently drop rows from groupbys.
LABEL_COLUMNS = ("hardware", "model_type", "family", "size", "dtype", "scenario", "status")

UNKNOWN = "unknown"
STATUS_ORDER = STATUSES

# The text column `with_run_to_run_noise` adds, e.g. "±3.1% (7 runs)".
RUN_TO_RUN_SIGMA = "run_to_run_sigma"

# Stable ordering for tables: a model's rows stay together, smallest configuration first.
SORT_COLUMNS = ("model_type", "hardware", "size", "scenario", "batch_size", "seq_len", "dtype")


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pd.NA; False for anything else, arrays included."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # pd.isna of an array-like is not a scalar answer
        return False


def _label(value: Any) -> str:
    if is_missing(value):
        return UNKNOWN
    text = str(value).strip()
    return text or UNKNOWN


def normalise(df: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of df with every contract column present, numbers numeric, labels filled."""
    frame = pd.DataFrame() if df is None else df.copy()
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in LABEL_COLUMNS:
        frame[column] = frame[column].map(_label).astype(object)
    # Statuses are compared against a closed set, so tolerate 'OK' or ' failed '.
    frame["status"] = frame["status"].map(str.lower)
    return frame.reset_index(drop=True)


def _normalised_column(column: str, values: pd.Series) -> pd.Series:
    if column in NUMERIC_COLUMNS:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    return values.map(_label).astype(object)


def with_run_to_run_noise(frame: pd.DataFrame, noise: pd.DataFrame | None) -> pd.DataFrame:
    """A normalised frame plus `RUN_TO_RUN_SIGMA`: each row's series noise as text ('' when not given).

    noise: one row per series, as the `series_noise` view (or `analysis.noise.noise_per_series`)
    has it; a series missing from it has no measured run. Its keys are normalised like the
    frame's, so that a null key still finds its series.
    """
    frame = frame.copy()
    if noise is None:
        frame[RUN_TO_RUN_SIGMA] = ""
        return frame
    keys = list(schema.SERIES_KEY)
    labels = pd.DataFrame({column: _normalised_column(column, noise[column]) for column in keys})
    labels[RUN_TO_RUN_SIGMA] = [fmt_noise(pct, runs) for pct, runs in zip(noise["noise_pct"], noise["n_runs"])]
    merged = frame.merge(labels, on=keys, how="left", validate="many_to_one")
    merged[RUN_TO_RUN_SIGMA] = merged[RUN_TO_RUN_SIGMA].fillna(fmt_noise(None, 0))
    return merged


def model_types(df: pd.DataFrame | None) -> list[str]:
    """Sorted distinct model types present in df, nulls left out."""
    if df is None or "model_type" not in df.columns:
        return []
    return sorted({str(value) for value in df["model_type"] if not is_missing(value)})


def sort_results(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a normalised frame ordered by model, then configuration."""
    return frame.sort_values(list(SORT_COLUMNS), na_position="last", kind="stable")


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == Status.OK]


def not_measured_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose measurement did not produce a trustworthy number, whatever the status."""
    return frame[frame["status"] != Status.OK]


def ordered_counts(values: pd.Series, preferred: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """(value, count) pairs: the preferred values first in that order, then the rest sorted."""
    counts = values.value_counts()
    ordered = [name for name in preferred if name in counts.index]
    ordered += sorted(name for name in counts.index if name not in preferred)
    return [(str(name), int(counts[name])) for name in ordered]


def status_counts(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return ordered_counts(frame["status"], STATUS_ORDER)


def hardware_counts(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return ordered_counts(frame["hardware"])


def distinct_text(frame: pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct non-null values of a text column."""
    return sorted({str(value) for value in frame[column] if not is_missing(value)})


def fmt_number(value: Any) -> str:
    """A measurement with about three significant figures and no exponent in normal ranges."""
    if is_missing(value):
        return ""
    number = float(value)
    magnitude = abs(number)
    if not math.isfinite(number):
        return str(number)
    if magnitude >= 100:
        return f"{number:,.0f}"
    if magnitude >= 10:
        return f"{number:.1f}"
    if magnitude >= 1:
        return f"{number:.2f}"
    return "0" if magnitude == 0 else f"{number:.3g}"


def fmt_int(value: Any) -> str:
    if is_missing(value):
        return ""
    number = float(value)
    return str(int(round(number))) if math.isfinite(number) else str(number)


def fmt_ci(low: Any, high: Any) -> str:
    """The 95% CI as 'low–high'; empty unless both ends are known."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"{fmt_number(low)}–{fmt_number(high)}"


def fmt_noise(noise_pct: Any, n_runs: Any) -> str:
    """A series' run-to-run sigma with its history, e.g. '±3.1% (7 runs)' or 'n/a (2 runs)'."""
    runs = 0 if is_missing(n_runs) else int(n_runs)
    history = f"({runs} run{'' if runs == 1 else 's'})"
    if is_missing(noise_pct):
        return f"n/a {history}"
    return f"±{float(noise_pct):.1f}% {history}"


def fmt_text(value: Any, limit: int | None = None) -> str:
    """Text on one line (tables cannot hold newlines), cut to `limit` characters."""
    if is_missing(value):
        return ""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text
