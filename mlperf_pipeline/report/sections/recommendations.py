"""Recommendations: advice the measured rows support, each with the rows it rests on."""

from __future__ import annotations

from mlperf_pipeline.analysis.recommendations import recommendations
from mlperf_pipeline.report.blocks import Cell, Section, Text, table

EVIDENCE_SHOWN = 8  # rows cited in the cell; the tooltip holds them all


def _evidence(rows: tuple[str, ...]) -> Cell:
    shown = "; ".join(rows[:EVIDENCE_SHOWN])
    if len(rows) > EVIDENCE_SHOWN:
        shown += f"; and {len(rows) - EVIDENCE_SHOWN} more rows"
    return Cell(shown, "evidence", "\n".join(rows))


def build(data) -> Section | None:
    if data.results.empty:
        return None
    found = recommendations(data.results, data.noise, data.latency_bound_ms, data.unstable_noise_pct)
    intro = Text(
        "From the measured rows only: a batch size where several were measured, a dtype or thread count where the "
        "alternatives ran on the same configuration, a difference only where the 95% intervals are apart. "
        f"Latency bound {data.latency_bound_ms:g} ms, unstable above {data.unstable_noise_pct:g}% run-to-run σ "
        "(`report` in defaults.yaml)."
        if data.latency_bound_ms is not None
        else "From the measured rows only (no latency bound set: `report.latency_bound_ms` in defaults.yaml)."
    )
    if not found:
        body = Text(
            "The rows support no recommendation yet: measure several batch sizes, dtypes or thread counts.", "empty"
        )
        return Section("recommendations", "Recommendations", (intro, body))
    rows = [[item.kind, item.subject, item.advice, _evidence(item.evidence)] for item in found]
    return Section(
        "recommendations",
        "Recommendations",
        (intro, table(("kind", "configuration", "advice", "rows it rests on"), rows)),
    )
