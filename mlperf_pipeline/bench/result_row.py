"""One row of `benchmark_results`, typed: its fields are the table's columns, in table order.

A test checks the fields against `store.schema.RESULT_COLUMNS`. Fields marked `_measured()` are
what the benchmark process reports for a configuration; the others the parent knows itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime


def _measured(required: bool = False):
    return field(metadata={"measured": True}) if required else field(default=None, metadata={"measured": True})


@dataclass(kw_only=True)
class ResultRow:
    run_id: str
    measured_at: datetime
    hardware: str
    device_name: str | None = None
    model_type: str
    family: str | None = None
    size: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    dtype: str | None = None
    scenario: str = "latency"
    workers: int = 1
    threads: int | None = _measured()
    status: str = _measured(required=True)
    reason_code: str | None = _measured()
    reason: str | None = _measured()
    latency_ms_p50: float | None = _measured()
    latency_ms_p90: float | None = _measured()
    latency_ms_p99: float | None = _measured()
    latency_ms_mean: float | None = _measured()
    latency_ms_std: float | None = _measured()
    latency_ms_iqr: float | None = _measured()
    ci95_low_ms: float | None = _measured()
    ci95_high_ms: float | None = _measured()
    n_samples: int | None = _measured()
    warmup_n: int | None = _measured()
    throughput_per_s: float | None = _measured()
    peak_memory_mb: float | None = _measured()
    energy_j: float | None = _measured()
    import_s: float | None = _measured()
    build_s: float | None = _measured()
    to_device_s: float | None = _measured()
    first_call_ms: float | None = _measured()
    cpu_util_pct: float | None = _measured()
    gpu_util_pct: float | None = _measured()
    params: int | None = _measured()
    flops: float | None = _measured()  # counted in the first process (`skillsets/runtime/counting.py`)
    bytes: float | None = _measured()
    env_fingerprint: str | None = None
    skillset_hash: str | None = None
    bench_version: str | None = None
    git_commit: str | None = None
    dagster_run_id: str | None = None  # set by the store, per write
    omp_wait_policy: str | None = None
    load_before_pct: float | None = None
    foreign_load_pct: float | None = _measured()
    speedup: float | None = None
    foreign_load: bool | None = None
    inputs_version: str | None = None
    n_processes: int | None = None
    process_medians_ms: list[float] | None = None
    between_process_cv_pct: float | None = None
    host_probe_ms: float | None = _measured()
    host_slowdown_pct: float | None = None
    remeasured: int | None = None
    ops: int | None = _measured()
    count_reason: str | None = _measured()  # why flops, bytes and ops are missing
    roofline_fraction: float | None = None  # achieved FLOP/s over the hardware's measured ceiling
    bound: str | None = None  # `compute` or `memory`: which roof the workload's intensity is under

    def __post_init__(self) -> None:
        # Plain strings, not `reasons` enum members: rows end up in Dagster metadata, which
        # serialises only the enums it knows.
        for name in ("status", "reason_code"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, str(value))

    def to_dict(self) -> dict:
        return asdict(self)


# What a configuration's record from the benchmark process contributes to its row.
MEASURED_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(ResultRow) if item.metadata.get("measured"))
