"""The standard grid `performance_predictor` predicts, and its counts for every catalogue type.

The grid: every catalogue type with a model class, on every present hardware, at sizes tiny and
full, batch 1, 8 and 32, seq 128, in each dtype the hardware supports. Its FLOPs, bytes and
operators are counted in isolated processes (`skillsets/runtime/counting.count_grid`: the meta
device, so full sizes are never allocated) and kept in DuckDB `workload_counts` per version of what
they depend on: the transformers version and the counting convention, and for a tiny size the
generated skillset whose config it is (a type without a generated skillset has no tiny config yet,
and is predicted at full size only). Only what is not stored yet is counted.

Counts are of a float32 forward. Another dtype moves the same tensors in its element size: its
bytes are the float32 bytes scaled by the element sizes' ratio (integer inputs such as token ids
are a negligible share). FLOPs and operators do not depend on the dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mlperf_pipeline.analysis.roofline import Roofline
from mlperf_pipeline.progress import ThrottledLog
from mlperf_pipeline.store.modelling import read_workload_counts, write_workload_counts
from mlperf_pipeline.store.results import DbPath

GRID_SIZES = ("tiny", "full")
GRID_BATCHES = (1, 8, 32)
GRID_SEQ_LEN = 128
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class CountRequest:
    model_type: str
    family: str
    size: str
    version: str
    info: dict | None = None  # a SkillsetInfo's fields (full size: the library's default config)
    skillset_path: str | None = None  # a generated module, whose INFO holds the tiny config
    batches: tuple[int, ...] = GRID_BATCHES
    seq_len: int = GRID_SEQ_LEN

    def item(self) -> dict:
        return {
            "info": self.info,
            "skillset_path": self.skillset_path,
            "size": self.size,
            "batches": list(self.batches),
            "seq_len": self.seq_len,
        }

    def unstored(self, have: set[tuple]) -> CountRequest | None:
        """This request narrowed to the batches `have` lacks (e.g. batch 32 where a benchmark run
        counted 1 and 8 already); None when every batch is stored."""
        batches = tuple(
            b for b in self.batches if (self.model_type, self.size, b, self.seq_len, self.version) not in have
        )
        return replace(self, batches=batches) if batches else None


def counts_version(size: str, skillset_hash: str | None = None) -> str:
    import transformers

    from mlperf_pipeline.skillsets.runtime.counting import COUNTING_VERSION

    base = f"transformers-{transformers.__version__}/counting-{COUNTING_VERSION}"
    return base if size == "full" else f"{base}/skillset-{skillset_hash}"


def count_requests(entries: Iterable, skillsets: dict[str, tuple[str, str]]) -> list[CountRequest]:
    """What to count: every entry at full size, and at tiny size where `skillsets` (model type ->
    (generated module path, its source hash)) has its generated module."""
    requests = []
    for entry in entries:
        info = {
            "model_type": entry.model_type,
            "model_class": entry.model_class,
            "family": entry.family,
            "modality": entry.modality,
            "tiny_overrides": {},
        }
        requests.append(CountRequest(entry.model_type, entry.family, "full", counts_version("full"), info=info))
        if entry.model_type in skillsets:
            path, source_hash = skillsets[entry.model_type]
            version = counts_version("tiny", source_hash)
            requests.append(CountRequest(entry.model_type, entry.family, "tiny", version, skillset_path=path))
    return requests


def counted(
    db_path: DbPath,
    requests: list[CountRequest],
    calls,
    progress: Callable[[str], None] = lambda message: None,
    on_count: Callable[[CountRequest, dict], None] = lambda request, result: None,
) -> pd.DataFrame:
    """The counts of every request: stored ones read, the others counted through `calls` (an
    `IsolatedCalls`) and stored as each finishes (`on_count` sees each request and its process's
    result). Columns as `workload_counts`, plus `family`."""
    stored = read_workload_counts(db_path, {request.version for request in requests})
    have = set(
        zip(stored["model_type"], stored["size"], stored["batch_size"], stored["seq_len"], stored["counts_version"])
    )
    missing = [narrowed for request in requests if (narrowed := request.unstored(have)) is not None]
    if missing:
        progress(f"counting {len(missing)} (type, size) pairs of the grid; {len(requests) - len(missing)} stored")
    from mlperf_pipeline.skillsets.runtime.counting import count_grid

    items = [{**request.item(), "request": index} for index, request in enumerate(missing)]
    pace = ThrottledLog(len(items), progress, "counted", every_s=15.0)
    for item, result in calls.results(count_grid, items):
        write_workload_counts(db_path, _rows(missing[item["request"]], result))
        on_count(missing[item["request"]], result)
        pace.step()
    counts = read_workload_counts(db_path, {request.version for request in requests})
    wanted = pd.DataFrame(
        [(r.model_type, r.size, batch, r.seq_len, r.version, r.family) for r in requests for batch in r.batches],
        columns=["model_type", "size", "batch_size", "seq_len", "counts_version", "family"],
    )
    return counts.merge(wanted, on=["model_type", "size", "batch_size", "seq_len", "counts_version"])


def _rows(request: CountRequest, result: dict) -> list[dict]:
    counted_at = datetime.now(timezone.utc).replace(tzinfo=None)
    base = {
        "model_type": request.model_type,
        "size": request.size,
        "seq_len": request.seq_len,
        "counts_version": request.version,
        "counted_at": counted_at,
    }
    if result.get("status") != "ok":  # the process crashed or timed out: every batch says so
        reason = f"counting process: {result.get('reason_code')}: {result.get('reason')}"[:500]
        return [{**base, "batch_size": batch, "count_reason": reason} for batch in request.batches]
    return [
        {**base, "batch_size": int(batch), **fields, "params": result.get("params")}
        for batch, fields in result["counts"].items()
    ]


def grid_rows(counts: pd.DataFrame, rooflines: dict[str, Roofline], dtypes: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """One row per (count, hardware, dtype) of the grid, with the roofs the predictor needs."""
    frames = []
    for hardware, roofline in sorted(rooflines.items()):
        for dtype in dtypes.get(hardware, ()):
            if roofline.peak(dtype) is None:
                continue  # no product of this dtype measured: nothing to predict against
            frame = counts.copy()
            frame["hardware"], frame["dtype"] = hardware, dtype
            frame["bytes"] = frame["bytes"] * DTYPE_BYTES.get(dtype, 4) / 4
            frame["peak"], frame["bandwidth"] = roofline.peak(dtype), roofline.bytes_per_s
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else counts.iloc[0:0]


def skillsets_in(skillsets_dir: Path, hardware: str) -> dict[str, tuple[str, str]]:
    """The generated skillsets of one hardware: model type -> (module path, source hash)."""
    import json

    found = {}
    for record_path in sorted((Path(skillsets_dir) / "verdicts" / hardware).glob("*.json")):
        record = json.loads(record_path.read_text())
        if Path(record["path"]).exists():
            found[record["model_type"]] = (record["path"], record["source_hash"])
    return found
