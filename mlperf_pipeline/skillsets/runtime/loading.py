"""Importing a generated skillset module from its file."""

from __future__ import annotations

from pathlib import Path


def load_skillset_module(path: Path):
    """Import a skillset module from its file, under a private name."""
    import importlib.util

    module_name = f"mlperf_skillset_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import skillset from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
