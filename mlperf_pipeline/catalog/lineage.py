"""Which model types share modelling code: the architecture group a type is held out with.

transformers writes most models as a `modular_<name>.py` that imports its layers from the models it
derives from (camembert's from roberta, roberta's from bert, mistral's from llama); the generated
`modeling_<name>.py` is a flat copy, so the class hierarchy does not show it. A type's parent is
the model it imports the most names from; its group is the root of that chain. Validation that
holds out a group holds out every type built from the same code, so a near-copy in training cannot
make the held-out accuracy look better than it is for a new architecture.

Read from the installed library's source files: nothing is imported or downloaded.
"""

from __future__ import annotations

import collections
import re
from functools import lru_cache
from pathlib import Path

_IMPORT = re.compile(r"^from \.\.(\w+)\.modeling_\w+ import (\([^)]*\)|[^\n]*)", re.MULTILINE)


def _models_dir() -> Path:
    import transformers

    return Path(transformers.__file__).parent / "models"


def _imported_names(clause: str) -> int:
    return len([name for name in re.split(r"[\s,()]+", clause) if name and name != "as"])


@lru_cache(maxsize=1)
def parents() -> dict[str, str]:
    """Each model directory's parent: the other model its modular file imports the most names from."""
    found: dict[str, str] = {}
    for modular in sorted(_models_dir().glob("*/modular_*.py")):
        own = modular.parent.name
        counts: collections.Counter[str] = collections.Counter()
        for match in _IMPORT.finditer(modular.read_text(encoding="utf-8", errors="replace")):
            if match.group(1) != own:
                counts[match.group(1)] += _imported_names(match.group(2))
        if counts:
            found[own] = max(sorted(counts), key=counts.__getitem__)  # ties: alphabetical, so stable
    return found


def _module_name(model_type: str) -> str:
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    return model_type_to_module_name(model_type)


def architecture_group(model_type: str) -> str:
    """The root of the type's chain of parents (a cycle stops where it closes)."""
    known, current, seen = parents(), _module_name(model_type), set()
    while current in known and current not in seen:
        seen.add(current)
        current = known[current]
    return current
