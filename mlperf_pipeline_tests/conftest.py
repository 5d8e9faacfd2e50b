import os
from pathlib import Path

import pytest

# Tests never reach a hub, and generated skillsets must build without one.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """The cluster test needs servers: only `-m cluster` (`make test-cluster`) selects it."""
    if "cluster" in (config.getoption("-m") or ""):
        return
    left_out = [item for item in items if item.get_closest_marker("cluster")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("cluster")]


@pytest.fixture(scope="session")
def catalog():
    from mlperf_pipeline.catalog.catalog import build_catalog

    return build_catalog()


@pytest.fixture(scope="session")
def skillset_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("skillsets")


@pytest.fixture(scope="session")
def bert_record(skillset_dir):
    """A real generated bert skillset, shared by tests that only read it."""
    from mlperf_pipeline.hardware.detect import inventory
    from mlperf_pipeline.skillsets.generate import generate, spec_for

    devices = inventory()
    return generate(spec_for("bert"), devices["cpu"], skillset_dir, None, devices)
