"""The report's one typed input: every table a section may draw on, as DataFrames.

A section reads what it needs from here and skips itself when its part is empty, so that a store
with results but no fitted model, or no detector run yet, still gets a report of what it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlperf_pipeline.report.detection import DetectionInput
from mlperf_pipeline.report.frame import normalise, with_run_to_run_noise


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass(frozen=True)
class ReportData:
    """results: the current results, normalised, each with its series' run-to-run sigma.
    noise: the `series_noise` rows. coverage: the `current_skillset_checks` rows. detection: what
    the detectors stored (None before the first judging). ceilings: each hardware's latest
    `hardware_ceilings`. predictions: the latest `predictions` run. calibration: every fit's
    `calibration_params`. latency_bound_ms, unstable_noise_pct: the `report` settings."""

    results: pd.DataFrame
    noise: pd.DataFrame = field(default_factory=_empty)
    coverage: tuple[dict, ...] = ()
    detection: DetectionInput | None = None
    ceilings: pd.DataFrame = field(default_factory=_empty)
    predictions: pd.DataFrame = field(default_factory=_empty)
    calibration: pd.DataFrame = field(default_factory=_empty)
    latency_bound_ms: float | None = None
    unstable_noise_pct: float = 10.0

    @classmethod
    def of(
        cls,
        results: pd.DataFrame | None,
        noise: pd.DataFrame | None = None,
        coverage: list[dict] | None = None,
        **tables,
    ) -> ReportData:
        """From the stored frames as read (any may be None): the results normalised once here."""
        present = {name: value for name, value in tables.items() if value is not None}
        return cls(
            results=with_run_to_run_noise(normalise(results), noise),
            noise=_empty() if noise is None else noise,
            coverage=tuple(coverage or ()),
            **present,
        )
