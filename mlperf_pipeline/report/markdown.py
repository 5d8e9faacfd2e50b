"""Markdown tables for the Dagster UI and `summary.md`: cells escaped so that no value breaks them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlperf_pipeline.report.frame import fmt_text

# Characters that would end a table cell or turn a model name into HTML or code.
_MARKDOWN_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "\\<", ">": "\\>", "`": "\\`"})


def escape_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no cell breaks, no raw HTML."""
    return fmt_text(text).translate(_MARKDOWN_ESCAPES)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
