"""Render skillset modules from the Jinja2 template, honour user overrides, hash the result."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

from mlperf_pipeline.skillsets.spec import SkillsetSpec, Verdict, literal

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("mlperf_pipeline.skillsets", "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class RenderedSkillset:
    model_type: str
    path: Path
    source_hash: str
    overridden: bool


def render_source(spec: SkillsetSpec, verdicts: dict[str, Verdict]) -> str:
    template = _ENVIRONMENT.get_template("skillset.py.j2")
    return template.render(
        spec={
            "model_type": spec.model_type,
            "model_class": spec.entry.model_class,
            "family": spec.entry.family,
            "modality": spec.entry.modality,
            "filename": spec.filename,
            "transformers_version": spec.transformers_version,
            "tiny_overrides_literal": literal(spec.tiny_overrides),
            "params_literal": literal(spec.params),
            "support_literal": literal({hardware: verdict.to_dict() for hardware, verdict in verdicts.items()}),
        }
    )


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def write_skillset(
    spec: SkillsetSpec, verdicts: dict[str, Verdict], out_dir: Path, overrides_dir: Path | None
) -> RenderedSkillset:
    """Write the generated module (atomically, only when changed); an override file wins."""
    override = overrides_dir / spec.filename if overrides_dir else None
    if override is not None and override.is_file():
        return RenderedSkillset(spec.model_type, override, source_hash(override.read_text()), True)
    source = render_source(spec, verdicts)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / spec.filename
    if not path.is_file() or path.read_text() != source:
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(source)
        os.replace(temporary, path)
    return RenderedSkillset(spec.model_type, path, source_hash(source), False)


REQUIRED_FUNCTIONS = ("build", "inputs")


def override_problem(path: Path) -> str | None:
    """Why a hand-written skillset cannot be used, or None: it must parse and define build() and inputs()."""
    import ast

    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as error:
        return f"override {path} does not parse: {error}"
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in REQUIRED_FUNCTIONS if name not in defined]
    return f"override {path} does not define {', '.join(missing)}()" if missing else None
