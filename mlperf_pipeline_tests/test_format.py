"""The tree is formatted by `ruff format` (width 120, pyproject `[tool.ruff]`) and no module outgrows 500 lines."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")
FORMATTED = ["mlperf_pipeline", "mlperf_pipeline_tests", "benchmarks"]
MAX_MODULE_LINES = 500


def test_the_tree_is_ruff_formatted():
    if not RUFF.exists():
        pytest.fail(f"{RUFF} is missing: install the test extra (`pip install -e '.[test]'`)")
    completed = subprocess.run(
        [str(RUFF), "format", "--check", *FORMATTED], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    to_reformat = [line for line in completed.stdout.splitlines() if line.startswith("Would reformat")]
    assert completed.returncode == 0, (
        f"run `{RUFF} format <files>` on:\n" + "\n".join(to_reformat) + f"\n{completed.stderr}".rstrip()
    )


def test_no_module_is_over_500_lines():
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in sorted((ROOT / "mlperf_pipeline").rglob("*.py"))
    }
    offenders = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines (split them): " + ", ".join(
        f"{path} ({lines})" for path, lines in sorted(offenders.items(), key=lambda item: -item[1])
    )
