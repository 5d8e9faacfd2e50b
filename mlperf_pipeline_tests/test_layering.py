"""DESIGN.md section 2 as checked rules: the import-linter contracts in pyproject.toml `[tool.importlinter]`.

- only `orchestration` (and `definitions.py`) import dagster or its libraries;
- no import cycle among the modules and subpackages of any package (skillsets included);
- data flows one way (layers: orchestration on top, then report, analysis, store, bench, skillsets,
  catalog | hardware | isolation, and the shared paths | reasons | settings | sizes).

Imports inside functions count (grimp reads them all): a lazy import is still an import.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlperf_pipeline

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_the_import_contracts_hold():
    if sys.version_info < (3, 11) and not LINT_IMPORTS.exists():
        pytest.skip("import-linter 2.16 needs Python 3.11; the test extra leaves it out on 3.10")
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (`pip install -e '.[test]'`)")
    completed = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, f"lint-imports failed:\n{completed.stdout}\n{completed.stderr}"


def test_the_dagster_contract_covers_every_package_but_orchestration():
    """A new package or module of mlperf_pipeline must join the forbidden contract's sources."""
    children = {f"mlperf_pipeline.{module.name}" for module in pkgutil.iter_modules(mlperf_pipeline.__path__)}
    expected = children - {"mlperf_pipeline.orchestration", "mlperf_pipeline.definitions"}
    contract = _contracts()["dagster-only-in-orchestration"]
    assert set(contract["source_modules"]) == expected
    assert {"dagster", "dagster_duckdb", "dagster_pipes", "dagster_webserver"} <= set(contract["forbidden_modules"])
    assert not contract.get("allow_indirect_imports", False) and not contract.get("ignore_imports")


def test_the_package_root_imports_nothing():
    """`mlperf_pipeline/__init__.py` is outside the contract's source packages: it stays empty of imports."""
    tree = ast.parse(Path(mlperf_pipeline.__file__).read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not imports, "mlperf_pipeline/__init__.py imports something: give it a contract of its own"
