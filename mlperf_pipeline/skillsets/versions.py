"""Versions of what a generated skillset depends on: the generator's own code and the user's override files."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from mlperf_pipeline.skillsets.spec import SkillsetSpec

NO_OVERRIDE = "none"
_GENERATOR_SUFFIXES = (".py", ".j2", ".jinja")
# This module decides when skillsets are re-generated but shapes none of them, so it is not hashed:
# moving code-version logic here left the version of the generator itself unchanged.
_NOT_GENERATOR = frozenset({"versions.py"})


def sources_digest(root: Path, paths: Iterable[Path], seed: str = "") -> str:
    """sha256 over each file's path relative to `root`, its length and its bytes, in path order:
    adding, moving, renaming or editing any of the files changes it."""
    digest = hashlib.sha256(seed.encode())
    for relative, path in sorted((path.relative_to(root).as_posix(), path) for path in paths):
        source = path.read_bytes()
        digest.update(f"{relative}\0{len(source)}\0".encode())
        digest.update(source)
    return digest.hexdigest()


@functools.cache
def generator_code_version(package: Path | None = None) -> str:
    """Hash of the skillset generator's sources (code and templates): a change re-generates every skillset.

    `package` is this skillsets package (tests hash a copy). Computed on first use and kept for the
    process, not when a module is imported."""
    root = Path(__file__).parent if package is None else package
    sources = [
        path
        for path in root.rglob("*")
        if path.suffix in _GENERATOR_SUFFIXES
        and "__pycache__" not in path.parts
        and path.relative_to(root).as_posix() not in _NOT_GENERATOR
    ]
    return sources_digest(root, sources)[:12]


def patch_filename(model_key: str) -> str:
    """The user's tiny-config patch for a model type: `hf_<type>.yaml` beside the module override."""
    return f"{Path(SkillsetSpec.filename_for(model_key)).stem}.yaml"


def override_filenames(model_key: str) -> tuple[str, str]:
    """The file names a user override of this model type may have: the module, and a YAML config patch."""
    return SkillsetSpec.filename_for(model_key), patch_filename(model_key)


def override_versions(overrides_dir: Path, model_keys: list[str]) -> dict[str, str]:
    """Hash of each type's override files, `none` where there is none. One directory listing, so cheap."""
    present = (
        {path.name: path for path in overrides_dir.glob("hf_*") if path.suffix in (".py", ".yaml")}
        if overrides_dir.is_dir()
        else {}
    )
    versions = {}
    for key in model_keys:
        paths = [present[name] for name in override_filenames(key) if name in present]
        digest = hashlib.sha256(b"".join(path.name.encode() + b"\0" + path.read_bytes() for path in paths))
        versions[key] = digest.hexdigest()[:16] if paths else NO_OVERRIDE
    return versions
