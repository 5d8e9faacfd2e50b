"""What a report section is made of: paragraphs, lists, tables and plots.

A section builds these once; the HTML template and `section_markdown` render the same blocks, so
the report and the Markdown summary in the Dagster UI cannot say different things. Every text is
plain: the template escapes it and the Markdown rendering escapes what Markdown would interpret.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from mlperf_pipeline.report.frame import fmt_text
from mlperf_pipeline.report.markdown import escape_cell, markdown_table

MARKDOWN_ROWS = 30  # a table in the UI summary shows this many rows and says how many more exist
# A paragraph may use `code` on purpose; only what would become raw HTML is escaped.
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "<": "\\<", ">": "\\>"})


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, a CSS class (`num` right-aligns a number) and a tooltip."""

    text: str
    css: str = ""
    title: str = ""


@dataclass(frozen=True)
class Text:
    kind: ClassVar[str] = "text"
    text: str
    css: str = ""  # `empty`: the line that says a section has nothing of a kind


@dataclass(frozen=True)
class Bullets:
    kind: ClassVar[str] = "bullets"
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    header_titles: tuple[str, ...] = ()  # a tooltip per header, where one helps
    markdown_columns: tuple[int, ...] | None = None  # the columns the summary keeps (None: all)
    markdown_rows: int = MARKDOWN_ROWS

    def header_title(self, index: int) -> str:
        return self.header_titles[index] if index < len(self.header_titles) else ""


@dataclass(frozen=True)
class Plot:
    kind: ClassVar[str] = "plot"
    name: str  # the file stem when the plot is written beside the report, e.g. `roofline-cpu`
    title: str
    png: bytes = field(repr=False)

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


Block = Text | Bullets | Table | Plot


@dataclass(frozen=True)
class Section:
    key: str  # the anchor in the HTML and the prefix of its plot files
    title: str
    blocks: tuple[Block, ...]
    in_summary: bool = True  # part of the Markdown summary shown in the Dagster UI

    @property
    def plots(self) -> list[Plot]:
        return [block for block in self.blocks if isinstance(block, Plot)]


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str | Cell]],
    numeric: Iterable[int] = (),
    **options,
) -> Table:
    """A table whose plain-string cells become `Cell`s, right-aligned in the `numeric` columns."""
    right = set(numeric)
    cells = tuple(
        tuple(
            value if isinstance(value, Cell) else Cell(str(value), "num" if index in right else "")
            for index, value in enumerate(row)
        )
        for row in rows
    )
    return Table(tuple(headers), cells, **options)


def _table_markdown(block: Table) -> str:
    keep = block.markdown_columns if block.markdown_columns is not None else range(len(block.headers))
    headers = [block.headers[index] for index in keep]
    shown = block.rows[: block.markdown_rows]
    text = markdown_table(headers, ([row[index].text for index in keep] for row in shown))
    if len(block.rows) > len(shown):
        text += f"\n\n_… {len(block.rows) - len(shown)} more rows in the HTML report._"
    return text


def _block_markdown(block: Block) -> str:
    if isinstance(block, Text):
        text = fmt_text(block.text).translate(_TEXT_ESCAPES)
        return f"_{text}_" if block.css == "empty" else text
    if isinstance(block, Bullets):
        return "\n".join(f"- {fmt_text(item).translate(_TEXT_ESCAPES)}" for item in block.items)
    if isinstance(block, Table):
        return _table_markdown(block)
    return f"_Plot in the HTML report: {fmt_text(block.title)}._"


def section_markdown(section: Section) -> str:
    return "\n\n".join([f"## {escape_cell(section.title)}", *(_block_markdown(block) for block in section.blocks)])
