"""The catalogue of every model type the installed `transformers` knows.

Everything is derived from the library's auto mappings and default configs; the only hand-kept
lists are the small priority tiers in `tiers.py`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field

from mlperf_pipeline.catalog import tiers
from mlperf_pipeline.catalog.families import classify_family, modality_for

log = logging.getLogger(__name__)

# Task mappings tried, in order, when a type has no base-model class. The base model is
# preferred because it is the plain forward pass every benchmark can share.
_MODEL_CLASS_PREFERENCE = (
    "MODEL_MAPPING_NAMES",
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES",
    "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
    "MODEL_FOR_CTC_MAPPING_NAMES",
    "MODEL_FOR_BACKBONE_MAPPING_NAMES",
    "MODEL_FOR_PRETRAINING_MAPPING_NAMES",
)

_FORBIDDEN_IN_KEYS = ("|", ",", "[", "]", "...")


@dataclass(frozen=True)
class CatalogEntry:
    model_type: str
    partition_key: str
    config_class: str
    model_class: str | None
    has_model_class: bool
    family: str
    modality: str
    tier: str
    tasks: tuple[str, ...] = field(default_factory=tuple)

    def to_row(self) -> dict:
        row = asdict(self)
        row["tasks"] = ",".join(self.tasks)
        return row


def partition_key_for(model_type: str) -> str:
    """Dagster partition key for a model type; the characters Dagster reserves are replaced."""
    key = model_type
    for forbidden in _FORBIDDEN_IN_KEYS:
        key = key.replace(forbidden, "_")
    return key


def _auto_mappings() -> dict[str, dict[str, object]]:
    from transformers.models.auto import modeling_auto

    return {
        name: getattr(modeling_auto, name)
        for name in dir(modeling_auto)
        if name.startswith("MODEL_") and name.endswith("_MAPPING_NAMES")
    }


def config_class_names() -> dict[str, str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return dict(CONFIG_MAPPING_NAMES)


def model_types_with_class() -> list[str]:
    """Cheap: every model type that some auto mapping gives a model class (no configs built)."""
    found: set[str] = set()
    for mapping in _auto_mappings().values():
        found.update(mapping)
    return sorted(found & set(config_class_names()))


def catalog_fingerprint() -> str:
    """Hash of the sorted list of model types with a class: changes only when the library's set does."""
    return hashlib.sha256("\n".join(model_types_with_class()).encode()).hexdigest()[:16]


def _first_class_name(value: object) -> str:
    return value[0] if isinstance(value, (tuple, list)) else str(value)


def _tasks_by_type(mappings: dict[str, dict[str, object]]) -> dict[str, list[str]]:
    tasks: dict[str, list[str]] = {}
    for mapping_name, mapping in mappings.items():
        task = mapping_name.removeprefix("MODEL_").removesuffix("_MAPPING_NAMES").lower()
        for model_type in mapping:
            tasks.setdefault(model_type, []).append(task)
    return tasks


def _model_class_for(model_type: str, mappings: dict[str, dict[str, object]]) -> str | None:
    for mapping_name in _MODEL_CLASS_PREFERENCE:
        if model_type in mappings.get(mapping_name, {}):
            return _first_class_name(mappings[mapping_name][model_type])
    for mapping in mappings.values():
        if model_type in mapping:
            return _first_class_name(mapping[model_type])
    return None


def _default_config_dict(model_type: str) -> dict:
    """The library's default config as a dict, or {} where the default cannot be built."""
    from transformers import AutoConfig

    try:
        return AutoConfig.for_model(model_type).to_dict()
    except Exception as error:  # a few configs refuse their own defaults; classification goes on
        log.debug("default config for %s failed: %s", model_type, error)
        return {}


def build_catalog(*, with_configs: bool = True) -> list[CatalogEntry]:
    """Every config type, sorted by tier then name; `with_configs=False` skips building configs."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # default configs warn about token ids; not our concern here
    mappings = _auto_mappings()
    tasks = _tasks_by_type(mappings)
    entries = [
        _make_entry(model_type, config_class, mappings, set(tasks.get(model_type, ())), with_configs)
        for model_type, config_class in config_class_names().items()
    ]
    _check_unique_keys(entries)
    return sorted(entries, key=lambda entry: (tiers.TIER_ORDER.index(entry.tier), entry.partition_key))


def _check_unique_keys(entries: list[CatalogEntry]) -> None:
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.partition_key in seen:
            raise ValueError(
                f"model types {seen[entry.partition_key]!r} and {entry.model_type!r} "
                f"map to the same partition key {entry.partition_key!r}"
            )
        seen[entry.partition_key] = entry.model_type


def partition_keys_in_tier_order(entries: list[CatalogEntry]) -> list[str]:
    """Keys of benchmarkable types, `critical` first, so that each tier is a contiguous range."""
    return [entry.partition_key for entry in entries if entry.has_model_class]


def select(
    entries: list[CatalogEntry], *, tier: str | None = None, models: list[str] | None = None
) -> list[CatalogEntry]:
    """Entries in a tier (cumulative: `high` includes `critical`) and/or named explicitly."""
    chosen = [entry for entry in entries if entry.has_model_class]
    if tier is not None:
        chosen = [entry for entry in chosen if tiers.within(entry.tier, tier)]
    if models:
        by_name = {entry.model_type: entry for entry in chosen} | {entry.partition_key: entry for entry in chosen}
        unknown = [name for name in models if name not in by_name]
        if unknown:
            raise ValueError(f"unknown model type(s) {unknown}: not in the catalogue of benchmarkable types")
        chosen = [by_name[name] for name in dict.fromkeys(models)]
    return chosen


def _make_entry(model_type: str, config_class: str, mappings: dict, tasks: set[str], with_config: bool) -> CatalogEntry:
    model_class = _model_class_for(model_type, mappings)
    family = classify_family(model_type, tasks, _default_config_dict(model_type) if with_config else {})
    return CatalogEntry(
        model_type=model_type,
        partition_key=partition_key_for(model_type),
        config_class=config_class,
        model_class=model_class,
        has_model_class=model_class is not None,
        family=family,
        modality=modality_for(family, tasks),
        tier=tiers.tier_of(model_type, tasks),
        tasks=tuple(sorted(tasks)),
    )


def entry_for(model_type: str) -> CatalogEntry:
    """One catalogue entry (a model type or its partition key), building only that type's config."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    config_classes = config_class_names()
    by_key = {partition_key_for(name): name for name in config_classes}
    if model_type not in config_classes and model_type not in by_key:
        raise ValueError(f"unknown model type {model_type!r}: transformers has no config for it")
    model_type = model_type if model_type in config_classes else by_key[model_type]
    mappings = _auto_mappings()
    tasks = set(_tasks_by_type(mappings).get(model_type, ()))
    return _make_entry(model_type, config_classes[model_type], mappings, tasks, with_config=True)
