"""Versions of what a generated skillset depends on: the generator's own code and the user's override files."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from mlperf_pipeline.skillsets.spec import SkillsetSpec

NO_OVERRIDE = "none"
_GENERATOR_SUFFIXES = (".py", ".j2", ".jinja")
# Facts the generator reads from outside this package (statuses and reason codes, the hardware
# list, the dtypes per hardware): a change there changes verdicts, so it changes the version too.
SHARED_FACTS = ("reasons.py", "sizes.py", "hardware/detect.py", "hardware/dtypes.py")


def shared_facts_digest() -> str:
    """Hash of `SHARED_FACTS`, the modules below `skillsets` that generated modules depend on."""
    root = Path(__file__).parents[1]
    return sources_digest(root, [root / name for name in SHARED_FACTS])


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
    """Hash of the skillset generator's sources (this package's code and templates, and the
    `SHARED_FACTS`): a change re-generates every skillset (modules that come out byte-identical keep
    their data versions, so nothing is re-measured because of it).

    `package` is this skillsets package (tests hash a copy). Computed once per process, on first
    use: the `skillsets` asset asks for it when its definition is imported."""
    root = Path(__file__).parent if package is None else package
    sources = [
        path for path in root.rglob("*") if path.suffix in _GENERATOR_SUFFIXES and "__pycache__" not in path.parts
    ]
    return sources_digest(root, sources, seed=shared_facts_digest())[:12]


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
