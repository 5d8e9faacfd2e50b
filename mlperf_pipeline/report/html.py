"""The HTML benchmark report: one self-contained file, a Markdown summary and the plots as files.

The HTML embeds its plots as base64 data URIs and its CSS inline, so it opens offline, can be
attached to a ticket or served as a CI artefact without its neighbours. The same plots are also
written as PNG files beside it (`figures/`), which the Dagster UI links to rather than carrying
images in its event log. Both are built from the same sections (`report/sections/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from mlperf_pipeline.report.blocks import Section, section_markdown
from mlperf_pipeline.report.files import write_atomic
from mlperf_pipeline.report.frame import model_types
from mlperf_pipeline.report.sections import ReportData, build_sections

DEFAULT_TITLE = "mlperf_pipeline benchmark report"
HTML_NAME = "report.html"
MARKDOWN_NAME = "summary.md"
FIGURES_DIR = "figures"
TEMPLATE_NAME = "report.html.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_BACKTICKED = re.compile(r"`([^`<>]+)`")
SUMMARY_HEADING = "# mlperf_pipeline benchmark summary"


@dataclass(frozen=True)
class ReportFiles:
    """What `render_report` wrote and what it covered."""

    html_path: Path
    markdown_path: Path
    markdown: str
    models: list[str]
    n_rows: int
    sections: list[str]  # the keys of the sections shown, in order
    figures: dict[str, Path]  # each plot's title -> its PNG file


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # autoescape=True rather than select_autoescape: the '.j2' suffix would defeat the latter.
    # StrictUndefined turns a misspelt template variable into an error, not a blank cell.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["inline_code"] = inline_code
    return environment


def inline_code(text: str) -> Markup:
    """Escaped text whose `backticked` names are set as code, as the Markdown summary shows them."""
    return Markup(_BACKTICKED.sub(r"<code>\1</code>", str(escape(text))))


def _timestamp(generated_at: datetime | str | None) -> str:
    if generated_at is None:
        generated_at = datetime.now(timezone.utc)
    if isinstance(generated_at, datetime):
        return generated_at.isoformat(sep=" ", timespec="seconds")
    return str(generated_at)


def _write_figures(sections: list[Section], folder: Path) -> dict[str, Path]:
    """Each section's plots as `<name>.png`; files of plots no longer shown are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for section in sections:
        for plot in section.plots:
            path = folder / f"{plot.name}.png"
            write_atomic(path, plot.png)
            written[plot.title] = path
    for old in folder.glob("*.png"):
        if old not in written.values():
            old.unlink()
    return written


def summary_markdown(sections: list[Section], generated_at: str) -> str:
    parts = [SUMMARY_HEADING, f"_Generated {generated_at}._"]
    parts += [section_markdown(section) for section in sections if section.in_summary]
    return "\n\n".join(parts) + "\n"


def render_sections(data: ReportData, out_dir: Path, title: str = DEFAULT_TITLE, generated_at=None) -> ReportFiles:
    """Write `report.html`, `summary.md` and `figures/*.png` for the data into out_dir."""
    sections = build_sections(data)
    stamp = _timestamp(generated_at)
    markdown = summary_markdown(sections, stamp)
    html = _environment().get_template(TEMPLATE_NAME).render(title=title, generated_at=stamp, sections=sections)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, markdown_path = out_dir / HTML_NAME, out_dir / MARKDOWN_NAME
    figures = _write_figures(sections, out_dir / FIGURES_DIR)
    write_atomic(html_path, html)
    write_atomic(markdown_path, markdown)
    return ReportFiles(
        html_path=html_path,
        markdown_path=markdown_path,
        markdown=markdown,
        models=model_types(data.results),
        n_rows=len(data.results),
        sections=[section.key for section in sections],
        figures=figures,
    )


def render_report(df, out_dir: Path, title: str = DEFAULT_TITLE, generated_at=None, **tables) -> ReportFiles:
    """The report of the current result rows `df`; tables: the other inputs of `ReportData.of`
    (noise, coverage, detection, ceilings, predictions, calibration, latency_bound_ms, ...)."""
    return render_sections(ReportData.of(df, **tables), out_dir, title, generated_at)
