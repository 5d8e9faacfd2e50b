"""Smoke checks of skillsets, run in isolated processes, remembered across runs.

One check builds the model at `tiny` size on cpu, makes its inputs, runs one forward pass and
checks the output is finite; the same call counts parameters on the meta device (tiny, and full
when asked). It serves twice: to pick the shrink rung a generated skillset stores (the first rung
of the ladder that passes) and as the smoke asset check of every skillset.

A check's outcome depends only on what was built (model type, class, overrides, or a hand-written
module's source) and on the code that builds it (this package's runtime, torch, transformers), so
it is stored under a hash of exactly that: regenerating unchanged skillsets re-runs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlperf_pipeline.isolation.locks import file_lock
from mlperf_pipeline.progress import ThrottledLog
from mlperf_pipeline.reasons import ReasonCode, Status
from mlperf_pipeline.skillsets.runtime import SkillsetInfo
from mlperf_pipeline.skillsets.versions import shared_facts_digest, sources_digest

SMOKE_BATCH_SIZE = 1
SMOKE_SEQ_LEN = 128
# No other shrink of the same model can fix these; the ladder stops at them.
NOTHING_SMALLER_HELPS = (ReasonCode.MISSING_DEPENDENCY, ReasonCode.UNSUPPORTED_INPUTS)


@functools.cache
def _runtime_version(package: Path | None = None) -> str:
    """Hash of the code a check runs through: changing it invalidates every stored outcome.

    The torch and transformers versions, every `.py` file of the runtime package (sorted by path
    relative to `package`; path and bytes both hashed, so adding, moving or editing any module
    counts), this module and the shared facts (`versions.SHARED_FACTS`: the reason codes the
    outcomes carry). `package` is this skillsets package (tests hash a copy); computed
    once per process and argument."""
    import torch
    import transformers

    package = Path(__file__).parent if package is None else package
    sources = [*(package / "runtime").rglob("*.py"), package / "checks.py"]
    libraries = f"torch={torch.__version__};transformers={transformers.__version__};"
    return sources_digest(package, sources, seed=libraries + shared_facts_digest())[:16]


def check_key(
    info: SkillsetInfo | None = None, module_source: str | None = None, runtime_version: str | None = None
) -> str:
    """What a check's outcome depends on, hashed: the built model (or the module's source) and the runtime."""
    built = (
        {"module_source": module_source}
        if module_source is not None
        else {
            "model_type": info.model_type,
            "model_class": info.model_class,
            "overrides": info.tiny_overrides,
        }
    )
    payload = json.dumps(
        {"built": built, "runtime": runtime_version or _runtime_version()}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


# ---- the check itself (runs in a child process) ----


def _forward_once(build: Callable[[], object], make_inputs: Callable[[object], dict]) -> dict:
    import torch

    from mlperf_pipeline.skillsets.runtime import check_finite

    started = time.perf_counter()
    model = build()
    built = time.perf_counter()
    inputs = make_inputs(model)
    with torch.inference_mode():
        check_finite(model(**inputs))
    return {
        "params_built": sum(p.numel() for p in model.parameters()),
        "build_s": round(built - started, 3),
        "forward_s": round(time.perf_counter() - built, 3),
    }


def _failed(phase: str, error: BaseException) -> dict:
    from mlperf_pipeline.skillsets.runtime import reason_code

    message = " ".join(f"{type(error).__name__}: {error}".split())
    # Plain strings: outcomes go to JSON files and Dagster metadata, which refuses enums.
    return {
        "status": Status.FAILED.value,
        "reason_code": reason_code(error).value,
        "reason": f"{phase}: {message[:400]}",
    }


def _count(info: SkillsetInfo, size: str) -> tuple[int | None, BaseException | None]:
    from mlperf_pipeline.skillsets.runtime import count_parameters_on_meta

    try:
        return count_parameters_on_meta(info, size), None
    except Exception as error:
        return None, error


def examine(item: dict) -> dict:
    """Child side: `check_info` on one thread.

    `item`: model_type, model_class, family, modality, overrides, count_full (bool), max_tiny_params
    (None: no cap)."""
    import torch

    torch.set_num_threads(1)
    info = SkillsetInfo(item["model_type"], item["model_class"], item["family"], item["modality"], item["overrides"])
    return check_info(info, item.get("max_tiny_params"), item.get("count_full", False))


def check_info(
    info: SkillsetInfo,
    max_tiny_params: int | None = None,
    count_full: bool = False,
    batch_size: int = SMOKE_BATCH_SIZE,
    seq_len: int = SMOKE_SEQ_LEN,
) -> dict:
    """Meta parameter counts, then build + inputs + one forward at tiny size on cpu; never raises."""
    from mlperf_pipeline.skillsets.runtime import build_model, make_inputs

    started = time.perf_counter()
    result: dict = {"status": Status.OK.value, "reason_code": None, "reason": None}
    result["params_tiny"], tiny_error = _count(info, "tiny")
    if count_full:
        result["params_full"], full_error = _count(info, "full")
        result["full_error"] = None if full_error is None else f"{type(full_error).__name__}: {full_error}"[:500]
    if tiny_error is not None:
        result.update(_failed("build", tiny_error))
    elif max_tiny_params and result["params_tiny"] > max_tiny_params:
        result.update(
            status=Status.FAILED.value,
            reason_code=ReasonCode.TOO_LARGE.value,
            reason=f"tiny: {result['params_tiny'] / 1e6:.0f}M parameters",
        )
    else:
        try:
            result.update(
                _forward_once(
                    lambda: build_model(info, "tiny", "cpu", "float32"),
                    lambda model: make_inputs(model, info, batch_size, seq_len, "cpu", "float32"),
                )
            )
        except Exception as error:  # every failure is data: classified, with its message
            result.update(_failed("forward", error))
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def examine_module(path: str) -> dict:
    """Child side: the smoke check of a hand-written skillset module, through its own build()/inputs()."""
    import torch

    from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module

    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        module = load_skillset_module(Path(path))
        result = {"status": Status.OK.value, "reason_code": None, "reason": None}
        result.update(
            _forward_once(
                lambda: module.build("tiny", "cpu", "float32"),
                lambda model: module.inputs(model, SMOKE_BATCH_SIZE, SMOKE_SEQ_LEN, "cpu", "float32"),
            )
        )
    except Exception as error:
        result = _failed("forward", error)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


# ---- stored outcomes ----


class CheckStore:
    """Check outcomes by key in one JSON file; concurrent runs merge their writes under a lock."""

    def __init__(self, path: Path | None):
        """`path=None`: outcomes are kept in memory only, for this process's lifetime."""
        self.path = path
        self.outcomes: dict[str, dict] = self._read()

    def _read(self) -> dict:
        if self.path is None:
            return {}
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}  # a damaged cache only costs re-running the checks

    def get(self, key: str) -> dict | None:
        return self.outcomes.get(key)

    def put(self, new: dict[str, dict]) -> None:
        if not new:
            return
        if self.path is None:
            self.outcomes.update(new)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.with_suffix(".lock")):
            merged = {**self._read(), **new}
            temporary = self.path.with_suffix(f".tmp{os.getpid()}")
            temporary.write_text(json.dumps(merged, sort_keys=True))
            os.replace(temporary, self.path)
        self.outcomes.update(new)


class InProcessCalls:
    """`isolated.IsolatedCalls`'s interface, calling in this process: the same checks and the same
    rung walk (`resolve_ladders`) without a child per call, for tests and a quick look at one type.
    Items and results round-trip through JSON as they do between processes, and torch's thread
    count and random state are restored after each call. A crash or a hang here takes the caller
    with it, which is why the pipeline isolates."""

    def results(self, function: Callable[[object], dict], items) -> Iterator[tuple[object, dict]]:
        for item in list(items):
            yield item, self._call(function, item)

    def map(self, function: Callable[[object], dict], items) -> list[dict]:
        return [result for _, result in self.results(function, items)]

    @staticmethod
    def _call(function: Callable[[object], dict], item) -> dict:
        import torch

        threads, random_state = torch.get_num_threads(), torch.random.get_rng_state()
        try:
            return json.loads(json.dumps(function(json.loads(json.dumps(item)))))
        finally:
            torch.set_num_threads(threads)
            torch.random.set_rng_state(random_state)


# ---- choosing the shrink rung ----


@dataclass
class Ladder:
    """One model type's candidate tiny overrides, fullest shrink first, and what is known of them.

    Candidates before `last_resort` are rungs, each milder (larger) than the one before; from
    `last_resort` on come variants that are not milder (see `shrink.ladder.ladder_candidates`)."""

    info: SkillsetInfo  # carries the first candidate's overrides
    candidates: list[dict]
    last_resort: int | None = None
    outcomes: list[dict | None] = field(default_factory=list)
    chosen: int | None = None
    done: bool = False

    def __post_init__(self):
        self.outcomes = [None] * len(self.candidates)

    def info_at(self, index: int) -> SkillsetInfo:
        return SkillsetInfo(
            self.info.model_type, self.info.model_class, self.info.family, self.info.modality, self.candidates[index]
        )

    def next_unknown(self) -> int | None:
        """Walk the known outcomes; the index to check next, or None when decided.

        A missing package or an input no builder makes ends the walk; a rung that is too large
        skips the milder (larger) rungs but not the last-resort variants."""
        index = 0
        while index < len(self.outcomes):
            outcome = self.outcomes[index]
            if outcome is None:
                return index
            if outcome["status"] == Status.OK:
                self.chosen, self.done = index, True
                return None
            if outcome["reason_code"] in NOTHING_SMALLER_HELPS:
                break
            if (
                outcome["reason_code"] == ReasonCode.TOO_LARGE
                and self.last_resort is not None
                and index < self.last_resort
            ):
                index = self.last_resort
                continue
            index += 1
        self.chosen, self.done = 0, True  # nothing passed: keep the full shrink and its failure
        return None

    @property
    def overrides(self) -> dict:
        return self.candidates[self.chosen]

    @property
    def smoke(self) -> dict:
        return self.outcomes[self.chosen]

    @property
    def params_full(self) -> tuple[int | None, str | None]:
        return self.outcomes[0].get("params_full"), self.outcomes[0].get("full_error")


def resolve_ladders(ladders: list[Ladder], store: CheckStore, calls, max_tiny_params: int, log=None) -> dict:
    """Decide every ladder, checking unknown rungs in isolated processes; returns counts for the log."""
    runtime_version = _runtime_version()
    counts = {"stored": 0, "checked": 0}
    while True:
        wanted: dict[str, tuple[Ladder, int]] = {}
        for ladder in ladders:
            while not ladder.done:
                index = ladder.next_unknown()
                if index is None:
                    break
                known = store.get(check_key(ladder.info_at(index), runtime_version=runtime_version))
                if known is None:
                    wanted[ladder.info.model_type] = (ladder, index)
                    break
                ladder.outcomes[index] = known
                counts["stored"] += 1
        if not wanted:
            return counts
        if log:
            log(f"checking {len(wanted)} skillset candidate(s) in isolated processes")
        items = [_item(ladder, index, max_tiny_params) for ladder, index in wanted.values()]
        new = {}
        progress = ThrottledLog(len(items), log, "  skillset checks")
        for item, outcome in calls.results(examine, items):
            progress.step()
            ladder, index = wanted[item["model_type"]]
            if index == 0:
                outcome.setdefault("params_full", None)  # a child that died counted nothing
            ladder.outcomes[index] = outcome
            # A hang may be the machine's fault: try again next time.
            if outcome.get("reason_code") != ReasonCode.TIMEOUT:
                new[check_key(ladder.info_at(index), runtime_version=runtime_version)] = outcome
        counts["checked"] += len(items)
        store.put(new)


def _item(ladder: Ladder, index: int, max_tiny_params: int) -> dict:
    info = ladder.info_at(index)
    return {
        "model_type": info.model_type,
        "model_class": info.model_class,
        "family": info.family,
        "modality": info.modality,
        "overrides": info.tiny_overrides,
        "count_full": index == 0,
        # The full shrink is taken at any size; only a milder rung must stay under the cap.
        "max_tiny_params": max_tiny_params if index > 0 else None,
    }


def smoke_modules(paths: dict[str, str], store: CheckStore, calls) -> dict[str, dict]:
    """Smoke outcomes of hand-written modules by model type (stored by source hash)."""
    runtime_version = _runtime_version()
    keys = {
        model_type: check_key(module_source=Path(path).read_text(), runtime_version=runtime_version)
        for model_type, path in paths.items()
    }
    outcomes = {model_type: store.get(key) for model_type, key in keys.items()}
    unknown = [model_type for model_type, outcome in outcomes.items() if outcome is None]
    for model_type, outcome in zip(unknown, calls.map(examine_module, [paths[m] for m in unknown])):
        outcomes[model_type] = outcome
    store.put({keys[m]: outcomes[m] for m in unknown if outcomes[m].get("reason_code") != ReasonCode.TIMEOUT})
    return outcomes
