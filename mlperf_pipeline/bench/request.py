"""What one isolated benchmark process is asked to do, and the defaults users can rely on."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from mlperf_pipeline.sizes import SIZES

# Bumped when the method changes what a number means, so that results are re-measured:
# 2 = time cap covers warm-up, warm-up ends when latency stops falling, malloc thresholds pinned,
# finite-output check outside the timed call.
# 3 = k independent processes per configuration, the interval over their medians; host-speed probe.
# 4 = the time cap is shared by a configuration's processes (not given to each); processes may be
#     added while the interval is wider than the target (`max_processes`, off by default).
# 5 = a process's share of the cap includes its first call; peak memory from the first process only.
BENCH_VERSION = "5"
MAX_SEQ_LEN = 32768
MAX_BATCH_SIZE = 4096
MAX_WORKERS = 64

# Documented defaults (README, "Measurement defaults").
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_SECONDS_PER_CONFIG = 5.0
DEFAULT_TARGET_CI_PCT = 5.0
DEFAULT_PROCESSES = 3
MAX_PROCESSES = 16


@dataclass
class BenchGrid:
    """The configurations to measure and how hard to try; validated on creation."""

    # One size, or a list of them measured in the same run (the `modelling` profile: full and
    # tiny, so that each type spans a wide FLOP range). A row, and a request, has one size.
    size: str | list[str] = "tiny"
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    seq_lens: list[int] = field(default_factory=lambda: [128])
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    threads: int | None = None
    target_ci_pct: float = DEFAULT_TARGET_CI_PCT
    max_seconds_per_config: float = DEFAULT_MAX_SECONDS_PER_CONFIG
    # Concurrent-throughput scenario: worker-process counts to run besides single-stream (none by default).
    workers: list[int] = field(default_factory=list)
    # Independent processes per configuration: the interval is over their medians (`bench/levels.py`).
    processes: int = DEFAULT_PROCESSES
    # While the interval is wider than `target_ci_pct`, more processes are added, up to this many
    # (None: none are added). Off by default: see `bench/partition.wants_more_processes`.
    max_processes: int | None = None

    def __post_init__(self) -> None:
        validate_grid(
            self.size,
            self.batch_sizes,
            self.seq_lens,
            self.dtypes,
            self.target_ci_pct,
            self.max_seconds_per_config,
            self.threads,
        )
        if self.workers:
            _positive_ints("workers", self.workers, MAX_WORKERS)
        if (
            isinstance(self.processes, bool)
            or not isinstance(self.processes, int)
            or not 1 <= self.processes <= MAX_PROCESSES
        ):
            raise ValueError(f"processes must be an integer from 1 to {MAX_PROCESSES}, got {self.processes!r}")
        if self.max_processes is not None and (
            isinstance(self.max_processes, bool)
            or not isinstance(self.max_processes, int)
            or not self.processes <= self.max_processes <= MAX_PROCESSES
        ):
            raise ValueError(
                f"max_processes must be null or an integer from processes ({self.processes}) to {MAX_PROCESSES}, "
                f"got {self.max_processes!r}"
            )
        if self.processes == 1 and self.max_processes not in (None, 1):
            raise ValueError(
                "max_processes must be null or 1 when processes is 1 (the single-process method judges "
                f"a row by its own samples), got {self.max_processes!r}"
            )

    @property
    def sizes(self) -> list[str]:
        """The sizes to measure, in the order given."""
        return [self.size] if isinstance(self.size, str) else list(self.size)

    def at_size(self, size: str) -> BenchGrid:
        """The same grid at one of its sizes."""
        if size not in self.sizes:
            raise ValueError(f"size {size!r} is not in this grid's sizes {self.sizes}")
        return replace(self, size=size)

    @property
    def process_cap(self) -> int:
        """The most processes a configuration gets: `max_processes`, else `processes`."""
        return self.processes if self.max_processes is None else self.max_processes

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(kw_only=True)
class BenchRequest(BenchGrid):
    """A grid for one skillset on one device: what the isolated process receives."""

    skillset_path: str
    model_type: str
    hardware: str
    device_index: int = 0
    # The memory pass (one call with the peak reset) runs in the first process of a configuration
    # only: peak memory is the model's and the input's, not the host state's, and the pass costs a
    # call per process (full-size bert: 0.17 s). `bench/partition.isolated_slices` clears it for
    # the other processes.
    memory_pass: bool = True
    # [batch, seq, dtype] configurations of the grid not to measure (skipped before launch: too slow).
    excluded: list[list] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.size, str):
            raise ValueError(f"a benchmark request measures one size, got {self.size!r} (use BenchGrid.at_size)")

    def grid_configs(self) -> list[tuple[int, int, str]]:
        return [(batch, seq, dtype) for dtype in self.dtypes for seq in self.seq_lens for batch in self.batch_sizes]

    def configs(self) -> list[tuple[int, int, str]]:
        """The configurations to measure: the grid's, less the excluded ones."""
        excluded = {tuple(config) for config in self.excluded}
        return [config for config in self.grid_configs() if config not in excluded]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> "BenchRequest":
        return cls(**json.loads(Path(path).read_text()))


def _positive_ints(name: str, values: list[int], ceiling: int) -> None:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{name} must be a non-empty list of integers, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
            raise ValueError(f"{name} must hold integers from 1 to {ceiling}, got {value!r}")


def _sizes(size) -> None:
    if isinstance(size, str):
        size = [size]
    if not isinstance(size, list) or not size or any(not isinstance(one, str) or one not in SIZES for one in size):
        raise ValueError(f"size must be one of {SIZES} or a non-empty list of them, got {size!r}")
    if len(set(size)) != len(size):
        raise ValueError(f"size lists a size more than once: {size!r}")


def validate_grid(size, batch_sizes, seq_lens, dtypes, target_ci_pct, max_seconds_per_config, threads) -> None:
    """Reject a bad benchmark configuration with an error naming the field."""
    from mlperf_pipeline.skillsets.runtime import DTYPES

    _sizes(size)
    _positive_ints("batch_sizes", batch_sizes, MAX_BATCH_SIZE)
    _positive_ints("seq_lens", seq_lens, MAX_SEQ_LEN)
    if not dtypes or any(dtype not in DTYPES for dtype in dtypes):
        raise ValueError(f"dtypes must be a non-empty list from {sorted(DTYPES)}, got {dtypes!r}")
    if not 0 < float(target_ci_pct) <= 50:
        raise ValueError(f"target_ci_pct must be in (0, 50], got {target_ci_pct!r}")
    if not 0 < float(max_seconds_per_config) <= 3600:
        raise ValueError(f"max_seconds_per_config must be in (0, 3600], got {max_seconds_per_config!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or null, got {threads!r}")
