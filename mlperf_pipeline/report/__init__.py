"""Report rendering: plots, a Markdown summary and a self-contained HTML report.

A plain library (no dagster): the `benchmark_report` asset calls `render_report` with the
current result rows and attaches the Markdown to its materialisation.
"""

from mlperf_pipeline.report.html import ReportFiles, render_report
from mlperf_pipeline.report.markdown import markdown_summary
from mlperf_pipeline.report.plots import latency_plot, status_plot, throughput_plot

__all__ = [
    "ReportFiles",
    "latency_plot",
    "markdown_summary",
    "render_report",
    "status_plot",
    "throughput_plot",
]
