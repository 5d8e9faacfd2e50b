"""Generate one skillset for a (hardware, model type) pair and record its verdict beside it."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.hardware.detect import HARDWARE, DeviceInfo
from mlperf_pipeline.reasons import ReasonCode, Status
from mlperf_pipeline.skillsets.checks import CheckStore, InProcessCalls, Ladder, resolve_ladders
from mlperf_pipeline.skillsets.render import override_problem, write_skillset
from mlperf_pipeline.skillsets.runtime import SkillsetInfo
from mlperf_pipeline.skillsets.shrink import MAX_TINY_PARAMS, ladder_candidates
from mlperf_pipeline.skillsets.spec import SkillsetSpec, verdict_for
from mlperf_pipeline.skillsets.versions import patch_filename


@dataclass
class SkillsetRecord:
    """What `benchmark_results` needs to know about a generated skillset."""

    model_type: str
    partition_key: str
    hardware: str
    family: str
    path: str
    source_hash: str
    overridden: bool
    verdict: dict
    params: dict
    model_class: str | None = None
    # A user's tiny-config patch (`<overrides>/hf_<type>.yaml`) applies: the module is generated,
    # but not from the library's config alone (`overridden` is a whole-module override).
    patched: bool = False

    @property
    def user_override(self) -> bool:
        """Whether a user's override of either kind shaped this skillset."""
        return self.overridden or self.patched

    @property
    def data_version(self) -> str:
        """Hash of the module and its verdict for this hardware: changes only when either does."""
        payload = json.dumps({"source": self.source_hash, "verdict": self.verdict}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def runnable(self, size: str) -> bool:
        return self.verdict["present"] and self.verdict["sizes"].get(size) is None


def _record_path(out_dir: Path, hardware: str, partition_key: str) -> Path:
    return out_dir / "verdicts" / hardware / f"{partition_key}.json"


def generate(
    spec: SkillsetSpec, device: DeviceInfo, out_dir: Path, overrides_dir: Path | None, devices: dict[str, DeviceInfo]
) -> SkillsetRecord:
    """Write the module (all hardware verdicts inside) and this hardware's verdict record."""
    verdicts = {
        hw: verdict_for(spec, hw, devices[hw].present, devices[hw].memory_bytes) for hw in HARDWARE if hw in devices
    }
    rendered = write_skillset(spec, verdicts, out_dir, overrides_dir)
    verdict = verdicts[device.hardware].to_dict()
    problem = override_problem(rendered.path) if rendered.overridden else None
    if problem and verdict["present"]:
        # A broken override fails this type's benchmarks with the reason; other types are unaffected.
        verdict = {
            **verdict,
            "sizes": {size: ReasonCode.INVALID_CONFIG.value for size in verdict["sizes"]},
            "reason": problem,
        }
    record = SkillsetRecord(
        model_type=spec.model_type,
        partition_key=spec.entry.partition_key,
        hardware=device.hardware,
        family=spec.entry.family,
        path=str(rendered.path),
        source_hash=rendered.source_hash,
        overridden=rendered.overridden,
        verdict=verdict,
        params=spec.params,
        model_class=spec.entry.model_class,
        patched=overrides_dir is not None and (overrides_dir / patch_filename(spec.entry.partition_key)).is_file(),
    )
    path = _record_path(out_dir, device.hardware, spec.entry.partition_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(asdict(record), indent=1))
    os.replace(temporary, path)
    return record


def spec_for(model_key: str, calls=None, store: CheckStore | None = None) -> SkillsetSpec:
    """The spec the pipeline generates for one model type: its shrink rung is chosen by the same
    ladder walk (`checked_specs`). The checks run in this process unless `calls` isolates them
    (`isolated.IsolatedCalls`, as the `skillsets` asset does); their outcomes are kept in `store`
    (default: in memory, so every rung is checked afresh)."""
    entry = entry_for(model_key)
    if not entry.has_model_class:
        raise ValueError(f"model type {entry.model_type!r} has no model class: nothing to benchmark")
    specs = checked_specs([entry], store or CheckStore(None), calls or InProcessCalls())
    return specs[entry.model_type][0]


def load_record(out_dir: Path, hardware: str, partition_key: str) -> SkillsetRecord:
    path = _record_path(out_dir, hardware, partition_key)
    if not path.is_file():
        raise FileNotFoundError(
            f"no skillset generated for {hardware}|{partition_key} (looked for {path}); materialise `skillsets` for this partition first"
        )
    return SkillsetRecord(**json.loads(path.read_text()))


def config_patch(overrides_dir: Path | None, entry) -> dict:
    """The user's `tiny` config patch for a type: `<overrides>/hf_<type>.yaml`, key `config`.

    Each field given replaces the generated value in every candidate shrink (a nested sub-config
    is given whole, as the generated overrides do)."""
    import yaml

    path = overrides_dir / patch_filename(entry.partition_key) if overrides_dir else None
    if path is None or not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from error
    unknown = set(document) - {"config"} if isinstance(document, dict) else None
    if unknown is None or unknown or not isinstance(document.get("config", {}), dict):
        raise ValueError(
            f"{path}: expected a mapping with one key `config` (a mapping of config fields), got {document!r:.200}"
        )
    return document.get("config", {})


def _ladder_for(entry, overrides_dir: Path | None) -> Ladder:
    from transformers import AutoConfig

    info = SkillsetInfo(entry.model_type, entry.model_class, entry.family, entry.modality, {})
    try:
        patch = config_patch(overrides_dir, entry)
    except ValueError as error:  # this type's skillset is unusable, with the reason; the others go on
        ladder = Ladder(info, [{}])
        ladder.outcomes[0] = {
            "status": Status.FAILED.value,
            "reason_code": ReasonCode.INVALID_CONFIG.value,
            "reason": str(error),
            "params_tiny": None,
            "params_full": None,
        }
        return ladder
    try:
        candidates, last_resort = ladder_candidates(AutoConfig.for_model(entry.model_type).to_dict())
    except Exception:  # the default config itself is broken: the check records why
        candidates, last_resort = [{}], None
    return Ladder(info, [{**candidate, **patch} for candidate in candidates], last_resort)


def checked_specs(
    entries: list, store: CheckStore, calls, log=None, overrides_dir: Path | None = None
) -> dict[str, tuple[SkillsetSpec, dict]]:
    """A spec and its smoke outcome per model type, shrink rungs chosen by the checks `calls` runs:
    in isolated processes (`isolated.IsolatedCalls`, the `skillsets` asset) or in this one
    (`checks.InProcessCalls`, `spec_for`'s default).

    Rungs whose outcome is stored are not checked again, so regenerating is cheap. A user's YAML
    config patch (`config_patch`) applies to every rung."""
    import transformers

    ladders = {entry.model_type: _ladder_for(entry, overrides_dir) for entry in entries}
    counts = resolve_ladders(list(ladders.values()), store, calls, MAX_TINY_PARAMS, log)
    if log:
        log(
            f"shrink rungs for {len(entries)} type(s): {counts['stored']} outcome(s) reused, {counts['checked']} checked"
        )
    specs = {}
    for entry in entries:
        ladder = ladders[entry.model_type]
        smoke = ladder.smoke
        params_full, full_error = ladder.params_full
        spec = SkillsetSpec(
            entry, ladder.overrides, {"tiny": smoke.get("params_tiny"), "full": params_full}, transformers.__version__
        )
        if smoke.get("params_tiny") is None and smoke["status"] != Status.OK:  # it cannot even be built
            spec.build_errors["tiny"] = smoke["reason"]
            spec.build_error_codes["tiny"] = smoke.get("reason_code") or ReasonCode.INVALID_CONFIG.value
        if full_error:
            spec.build_errors["full"] = full_error
        specs[entry.model_type] = (spec, smoke)
    return specs
