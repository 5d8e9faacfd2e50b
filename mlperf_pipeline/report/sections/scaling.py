"""Batch-size scaling: throughput against batch size, and the best batch of each series."""

from __future__ import annotations

from mlperf_pipeline.analysis.recommendations import best_batches, within_latency_bound
from mlperf_pipeline.report.blocks import Plot, Section, Text, table
from mlperf_pipeline.report.plots import throughput_plot


def build(data) -> Section | None:
    png = throughput_plot(data.results)
    if png is None:
        return None  # no series measured at two batch sizes
    best = {item.subject: item.advice for item in best_batches(data.results)}
    bounded = {item.subject: item.advice for item in within_latency_bound(data.results, data.latency_bound_ms)}
    bound = (
        f"under {data.latency_bound_ms:g} ms (p90)"
        if data.latency_bound_ms is not None
        else "under the latency bound (none set)"
    )
    rows = [[subject, advice, bounded.get(subject, "")] for subject, advice in best.items()]
    return Section(
        "scaling",
        "Batch-size scaling",
        (
            Plot("scaling", "Throughput vs batch size", png),
            Text("The best batch for throughput, where the intervals tell batches apart; and the best " + bound + "."),
            table(("series", "best batch for throughput", f"best batch {bound}"), rows),
        ),
    )
