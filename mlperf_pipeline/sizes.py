"""The model sizes a skillset builds, shared by every package that names one.

`tiny` is the shrunk config a skillset stores (its `tiny_overrides`), `full` the library's default
config. The runtime builds both, the bench measures either, the store accepts only these.
"""

from __future__ import annotations

SIZES: tuple[str, ...] = ("tiny", "full")
