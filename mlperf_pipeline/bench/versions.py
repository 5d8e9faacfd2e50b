"""The data version of a benchmark partition: what its measurement depended on, and which run made it.

    s=<skillset data version>:e=<environment fingerprint>:b=<bench version>:g=<grid hash>[:r=<run>]

Without `r=` it is the partition's *inputs* (also stored as `benchmark_results.inputs_version`);
with it, the `dagster/data_version` of a materialisation (`r=` the first 8 characters of the
benchmark run id, or `db` when another run had already stored the same inputs). The text is
stored in Dagster's event log and DuckDB: changing how it is written re-measures everything.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace

from mlperf_pipeline.bench.request import BENCH_VERSION, BenchGrid

# `g=` is optional: versions written before the grid was recorded lack it.
_FORMAT = re.compile(r"s=(?P<s>[^:]+):e=(?P<e>[^:]+):b=(?P<b>[^:]+)(?::g=(?P<g>[^:]+))?(?::r=(?P<r>[^:]+))?")
STORED_BY_ANOTHER_RUN = "db"


def grid_hash(grid: BenchGrid) -> str:
    """8 hex digits that change whenever any field of the grid does (one size given as a list of
    one is the same grid)."""
    fields = grid.to_dict()
    if len(grid.sizes) == 1:
        fields["size"] = grid.sizes[0]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class BenchmarkVersion:
    skillset: str  # the skillset's data version (module and verdict)
    environment: str  # the hardware's environment fingerprint (`absent` where it is not there)
    bench: str  # BENCH_VERSION
    grid: str | None  # grid_hash; None only in versions written before it was recorded
    run: str | None = None  # None: the inputs alone

    @classmethod
    def of_inputs(cls, skillset_version: str, env_fingerprint: str, grid: BenchGrid) -> BenchmarkVersion:
        """What a measurement made now with this skillset, environment and grid depends on."""
        return cls(skillset_version, env_fingerprint, BENCH_VERSION, grid_hash(grid))

    def encode(self) -> str:
        text = f"s={self.skillset}:e={self.environment}:b={self.bench}"
        if self.grid is not None:
            text += f":g={self.grid}"
        return text if self.run is None else f"{text}:r={self.run}"

    @classmethod
    def parse(cls, text: str) -> BenchmarkVersion:
        """The fields of `encode`'s text; ValueError naming the expected format otherwise."""
        match = _FORMAT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a benchmark data version (expected s=..:e=..:b=..[:g=..][:r=..]): {text!r:.200}")
        return cls(match["s"], match["e"], match["b"], match["g"], match["r"])

    @property
    def inputs(self) -> BenchmarkVersion:
        return replace(self, run=None)

    def measured_by(self, run: str) -> BenchmarkVersion:
        """This version as the data version of a materialisation by `run` (a run id, or `db`)."""
        return replace(self, run=run[:8])

    def recorded_in(self, data_version: str | None) -> bool:
        """Whether `data_version` is a measurement of exactly these inputs."""
        return data_version is not None and data_version.startswith(self.inputs.encode() + ":r=")


def measurement(data_version: str | None) -> BenchmarkVersion | None:
    """A materialisation's benchmark version; None where there is none or it is in another format
    (inputs without a run, or a data version Dagster chose itself)."""
    try:
        version = BenchmarkVersion.parse(data_version) if data_version else None
    except ValueError:
        return None
    return version if version is not None and version.run is not None else None
