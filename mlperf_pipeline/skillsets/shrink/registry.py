"""Where shrink passes register themselves: one signature, looked up by name.

A pass restores one invariant that configs check or models assume after the plain value shrink
(`values.shrink_value`): it reads the library default (`original`) and edits the tiny config
(`config`) in place. The order the passes run in is `core.PASS_ORDER`, kept in one place.
"""

from __future__ import annotations

from collections.abc import Callable

ShrinkPass = Callable[[dict, dict], None]

PASSES: dict[str, ShrinkPass] = {}


def shrink_pass(function: ShrinkPass) -> ShrinkPass:
    """Register `function(original, config)` under its own name."""
    name = function.__name__
    if name in PASSES:
        raise ValueError(
            f"shrink pass {name!r} is registered twice ({PASSES[name].__module__} and {function.__module__})"
        )
    PASSES[name] = function
    return function
