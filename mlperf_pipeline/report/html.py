"""The HTML benchmark report: one self-contained file plus a Markdown summary beside it.

The HTML embeds its plots as base64 data URIs and its CSS inline, so it opens offline, can be
attached to a ticket or served as a CI artefact without its neighbours.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import jinja2
import pandas as pd

from mlperf_pipeline.reasons import Status
from mlperf_pipeline.report.coverage import coverage_by_family, coverage_table, failures_first, format_params
from mlperf_pipeline.report.frame import (
    is_missing,
    RUN_TO_RUN_SIGMA,
    STATUS_ORDER,
    distinct_text,
    fmt_ci,
    fmt_int,
    fmt_number,
    fmt_text,
    hardware_counts,
    model_types,
    normalise,
    not_measured_rows,
    sort_results,
    status_counts,
    with_run_to_run_noise,
)
from mlperf_pipeline.report.ceilings import ceiling_rows, ceilings_markdown
from mlperf_pipeline.report.detection import DetectionInput, DetectionSection, detection_section
from mlperf_pipeline.report.markdown import markdown_summary
from mlperf_pipeline.report.plots import latency_plot, status_plot, throughput_plot

DEFAULT_TITLE = "mlperf_pipeline benchmark report"
HTML_NAME = "report.html"
MARKDOWN_NAME = "summary.md"
TEMPLATE_NAME = "report.html.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REASON_LIMIT = 300  # the table stays readable; the full text is in the cell's tooltip
FINGERPRINT_LIMIT = 80


@dataclass(frozen=True)
class ReportFiles:
    """What `render_report` wrote and what it covered."""

    html_path: Path
    markdown_path: Path
    markdown: str
    models: list[str]
    n_rows: int


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # autoescape=True rather than select_autoescape: the '.j2' suffix would defeat the latter.
    # StrictUndefined turns a misspelt template variable into an error, not a blank cell.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _plots(df: pd.DataFrame) -> list[dict[str, str]]:
    """The plots that have something to show, as embeddable images."""
    candidates = (
        ("Latency per model type", latency_plot),
        ("Throughput vs batch size", throughput_plot),
        ("Results by status per family", status_plot),
    )
    plots = []
    for title, draw in candidates:
        png = draw(df)
        if png is not None:
            plots.append({"title": title, "uri": _data_uri(png)})
    return plots


def _status_class(status: str) -> str:
    # Only known statuses become CSS classes; anything else is styled as 'other'.
    return status if status in STATUS_ORDER else "other"


def _result_row(row: pd.Series) -> dict[str, str]:
    return {
        "model": row["model_type"],
        "family": row["family"],
        "hardware": row["hardware"],
        "size": row["size"],
        "batch": fmt_int(row["batch_size"]),
        "seq": fmt_int(row["seq_len"]),
        "dtype": row["dtype"],
        "scenario": row["scenario"],
        "status": row["status"],
        "status_class": _status_class(row["status"]),
        "p50": fmt_number(row["latency_ms_p50"]),
        "p90": fmt_number(row["latency_ms_p90"]),
        "p99": fmt_number(row["latency_ms_p99"]),
        "ci": fmt_ci(row["ci95_low_ms"], row["ci95_high_ms"]),
        "noise": row[RUN_TO_RUN_SIGMA],
        "n": fmt_int(row["n_samples"]),
        "warmup": fmt_int(row["warmup_n"]),
        "throughput": fmt_number(row["throughput_per_s"]),
        "peak_mb": fmt_number(row["peak_memory_mb"]),
        "first_call_ms": fmt_number(row["first_call_ms"]),
        "build_s": fmt_number(row["build_s"]),
        "gflop": fmt_number(row["flops"] / 1e9) if not is_missing(row["flops"]) else "",
        "roofline_pct": fmt_number(row["roofline_fraction"] * 100) if not is_missing(row["roofline_fraction"]) else "",
        "bound": fmt_text(row["bound"]),
        "count_reason": fmt_text(row["count_reason"]),
        "reason_code": fmt_text(row["reason_code"]),
        "reason": fmt_text(row["reason"], REASON_LIMIT),
        "reason_full": fmt_text(row["reason"]),
    }


def _result_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [_result_row(row) for _, row in sort_results(frame).iterrows()]


def _environment_summary(frame: pd.DataFrame) -> dict[str, list[str]]:
    fingerprints = distinct_text(frame, "env_fingerprint")
    fingerprints = [fmt_text(text, FINGERPRINT_LIMIT) for text in fingerprints]
    return {"devices": distinct_text(frame, "device_name"), "fingerprints": fingerprints}


def _timestamp(generated_at: datetime | str | None) -> str:
    if generated_at is None:
        generated_at = datetime.now(timezone.utc)
    if isinstance(generated_at, datetime):
        return generated_at.isoformat(sep=" ", timespec="seconds")
    return str(generated_at)


def _context(
    frame: pd.DataFrame,
    title: str,
    generated_at: datetime | str | None,
    extra_sections: dict[str, str] | None,
    coverage: list[dict] | None = None,
    detection: DetectionSection | None = None,
    ceilings: list[dict] | None = None,
) -> dict[str, object]:
    return {
        "ceilings": ceilings or [],
        "detection": _detection_context(detection),
        "coverage": _coverage_context(coverage or []),
        "title": title,
        "generated_at": _timestamp(generated_at),
        "n_rows": len(frame),
        "n_models": len(model_types(frame)),
        "environment": _environment_summary(frame),
        "status_counts": [(name, count, _status_class(name)) for name, count in status_counts(frame)],
        "hardware_counts": hardware_counts(frame),
        "plots": _plots(frame),
        "results": _result_rows(frame),
        "not_measured": _result_rows(not_measured_rows(frame)),
        "extra_sections": list((extra_sections or {}).items()),
    }


def _detection_context(section: DetectionSection | None) -> dict[str, object] | None:
    if section is None:
        return None
    plots = [{"title": plot["title"], "uri": _data_uri(plot["png"])} for plot in section.plots]
    return {"regressions": section.regressions, "plots": plots, "anomalies": section.anomalies}


def _coverage_context(rows: list[dict]) -> dict[str, object]:
    ok = sum(row["status"] == Status.OK for row in rows)
    return {
        "n": len(rows),
        "ok": ok,
        "pct": f"{100 * ok / max(len(rows), 1):.1f}",
        "by_family": [
            (family, counts.get(Status.OK, 0), counts["total"]) for family, counts in coverage_by_family(rows).items()
        ],
        "rows": [
            {
                "model": row["model_type"],
                "family": row.get("family") or "",
                "status": row["status"],
                "status_class": _status_class(row["status"]),
                "reason_code": row.get("reason_code") or "",
                "reason": fmt_text(row.get("reason") or ""),
                "params_tiny": format_params(row.get("params_tiny")),
                "params_full": format_params(row.get("params_full")),
            }
            for row in failures_first(rows)
        ],
    }


def write_atomic(path: Path, text: str) -> None:
    """Replace path with text in one step, so a reader never sees half a report."""
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp_name, 0o644)  # mkstemp's private 0600 would hide the report from servers
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def render_report(
    df: pd.DataFrame | None,
    out_dir: Path,
    title: str = DEFAULT_TITLE,
    generated_at: datetime | str | None = None,
    extra_sections: dict[str, str] | None = None,
    coverage: list[dict] | None = None,
    noise: pd.DataFrame | None = None,
    detection: DetectionInput | None = None,
    ceilings: pd.DataFrame | None = None,
) -> ReportFiles:
    """Write `report.html` and `summary.md` for the current result rows into out_dir.

    extra_sections maps a heading to plain text (e.g. recommendations); it is shown escaped
    and preformatted, never interpreted as HTML. coverage: the skillset smoke-check rows (the
    `current_skillset_checks` view), shown as the coverage table with parameter counts. noise:
    one row per series (the `series_noise` view), shown beside each result as its run-to-run
    sigma, so that a reader can tell a real difference from the series' usual scatter.
    detection: the stored findings of the detectors; the report then leads with the confirmed
    regressions that stand (each with its history plot), then the anomalous results. ceilings:
    each hardware's latest `hardware_ceilings` rows, shown as its roofline.
    """
    frame = with_run_to_run_noise(normalise(df), noise)
    section = detection_section(detection)
    markdown = markdown_summary(df, noise=noise)
    if section is not None:
        markdown = section.markdown + "\n\n" + markdown
    roofs = ceiling_rows(ceilings)
    if roofs:
        markdown += "\n\n" + ceilings_markdown(roofs)
    if coverage:
        markdown += "\n\n## Skillset coverage (tiny size, cpu)\n\n" + coverage_table(coverage, failures_only=True)
    html = (
        _environment()
        .get_template(TEMPLATE_NAME)
        .render(**_context(frame, title, generated_at, extra_sections, coverage, section, roofs))
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, markdown_path = out_dir / HTML_NAME, out_dir / MARKDOWN_NAME
    write_atomic(html_path, html)
    write_atomic(markdown_path, markdown)
    return ReportFiles(
        html_path=html_path,
        markdown_path=markdown_path,
        markdown=markdown,
        models=model_types(df),
        n_rows=len(frame),
    )
