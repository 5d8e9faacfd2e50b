"""The report's sections, in reading order. Each is one module with a `build(ReportData)` that
returns its `Section`, or None when it has no data to show (the report then leaves it out)."""

from __future__ import annotations

from collections.abc import Callable

from mlperf_pipeline.report.blocks import Section
from mlperf_pipeline.report.sections import (
    calibration,
    coverage,
    detection,
    heatmap,
    leaderboard,
    memory,
    noise,
    overview,
    recommendations,
    results,
    roofline,
    scaling,
)
from mlperf_pipeline.report.sections.data import ReportData

SECTIONS: tuple[Callable[[ReportData], Section | None], ...] = (
    overview.build,
    detection.regressions,
    detection.anomalies,
    recommendations.build,
    leaderboard.build,
    roofline.build,
    scaling.build,
    memory.build,
    heatmap.build,
    calibration.build,
    noise.build,
    coverage.build,
    results.measured,
    results.not_ok,
)


def build_sections(data: ReportData) -> list[Section]:
    """Every section that has something to show, in order."""
    return [section for section in (build(data) for build in SECTIONS) if section is not None]


__all__ = ["SECTIONS", "ReportData", "Section", "build_sections"]
