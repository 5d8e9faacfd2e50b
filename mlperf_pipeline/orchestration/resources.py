"""Resources, built per deployment (`MLPERF_DEPLOYMENT`: local, ci, cluster) in one place."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from mlperf_pipeline import paths
from mlperf_pipeline.bench.request import DEFAULT_TIMEOUT_S
from mlperf_pipeline.store.lake import LAKE_PREFIX, LakeLocation


class ResultsStore(dg.ConfigurableResource):
    """The results store: a DuckDB file, or a DuckLake (`ducklake:<catalog>`, its Parquet files in
    `lake_data_path`) that many machines share. Opened briefly per write or read; never held."""

    db_path: str
    lake_data_path: str | None = None

    @property
    def path(self) -> Path | LakeLocation:
        if self.db_path.startswith(LAKE_PREFIX):
            return LakeLocation.parse(self.db_path, self.lake_data_path)
        return Path(self.db_path)

    @classmethod
    def at(cls, location: Path | str | LakeLocation) -> "ResultsStore":
        """A store at a file, a `LakeLocation`, or a `ducklake:` locator (files in `MLPERF_LAKE_DATA`)."""
        if isinstance(location, str) and location.startswith(LAKE_PREFIX):
            location = LakeLocation.parse(location, paths.lake_data_dir())
        if isinstance(location, LakeLocation):
            return cls(db_path=LAKE_PREFIX + location.catalog, lake_data_path=location.data_path)
        return cls(db_path=str(location))


class BenchSettings(dg.ConfigurableResource):
    """Where the pipeline keeps skillsets, locks and reports, and how benchmark processes are bounded."""

    home: str
    skillsets_dir: str
    overrides_dir: str
    reports_dir: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_cap_gb: float | None = None
    # `auto`: ACTIVE on an idle host, PASSIVE when something else keeps it busy (recorded per row).
    omp_wait_policy: str = "auto"
    # `fork_server`: benchmark processes forked from a server that preloaded torch and transformers
    # (~30 ms a start); `interpreter`: a new Python per benchmark (~4 s a start).
    launcher: str = "fork_server"
    # Skillset smoke checks (and the shrink-rung checks behind them): processes at a time (0: one
    # per usable core) and the seconds one may take before it counts as a hang.
    check_jobs: int = 0
    check_timeout_s: float = 120.0
    # The device locks' folder: node-local, so that one benchmark holds a device at a time per node
    # (on a shared home, one lock would serialise the whole fleet). Default: `<home>/locks`.
    node_lock_dir: str | None = None

    @property
    def lock_dir(self) -> Path:
        return Path(self.node_lock_dir) if self.node_lock_dir else Path(self.home) / "locks"

    @property
    def memory_cap_bytes(self) -> int | None:
        from mlperf_pipeline.bench.runner import default_memory_cap_bytes

        return int(self.memory_cap_gb * 2**30) if self.memory_cap_gb else default_memory_cap_bytes()


def resources_under(home: Path, db_path: Path | str | LakeLocation | None = None, **bench_overrides) -> dict:
    """Resources rooted at one home folder (what tests and the local deployment use)."""
    return {
        "results_store": ResultsStore.at(db_path or home / "results.duckdb"),
        "bench_settings": BenchSettings(
            home=str(home),
            skillsets_dir=str(home / "skillsets"),
            overrides_dir=str(home / "overrides"),
            reports_dir=str(home / "reports"),
            **bench_overrides,
        ),
    }


def _local_resources() -> dict:
    resources = resources_under(paths.mlperf_home(), paths.results_db_path())
    resources["bench_settings"] = resources["bench_settings"].model_copy(
        update={"overrides_dir": str(paths.overrides_dir())}
    )
    return resources


def _ci_resources() -> dict:
    resources = _local_resources()
    resources["bench_settings"] = resources["bench_settings"].model_copy(update={"timeout_s": 180.0})
    return resources


def _cluster_resources() -> dict:
    """`MLPERF_HOME` on a path every node mounts; device locks in `MLPERF_NODE_DIR` on the node;
    results in the shared DuckLake (`cluster_store`)."""
    resources = _local_resources()
    resources["results_store"] = ResultsStore.at(cluster_store())
    node_dir = Path(os.environ.get("MLPERF_NODE_DIR", "/tmp/mlperf-node")).expanduser().resolve()
    # Skillsets stay on the shared home: a benchmark run without its skillsets step (automation
    # after a bench-version change) and the predictor on another node read them there. Generation
    # is deterministic, and each module is checked against its record's hash before it is measured
    # (`verified_record`).
    resources["bench_settings"] = resources["bench_settings"].model_copy(
        update={"timeout_s": 600.0, "node_lock_dir": str(node_dir / "locks")}
    )
    return resources


def cluster_store() -> Path | LakeLocation:
    """`MLPERF_DB` where set; otherwise a DuckLake whose catalog is the PostgreSQL database of the
    instance storage (`MLPERF_PG_*`, schema `mlperf_results`) and whose files are in
    `MLPERF_LAKE_DATA`. The password is not put in the resource's config, where the UI would show
    it: libpq takes it from `PGPASSWORD`."""
    if os.environ.get("MLPERF_DB"):
        return ResultsStore.at(paths.results_db_path()).path
    fields = {"host": "MLPERF_PG_HOST", "port": "MLPERF_PG_PORT", "user": "MLPERF_PG_USER", "dbname": "MLPERF_PG_DB"}
    missing = [name for name in fields.values() if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"MLPERF_DEPLOYMENT=cluster keeps results in a DuckLake on the instance's PostgreSQL: set {', '.join(missing)} "
            "(or MLPERF_DB=ducklake:<catalog>)"
        )
    catalog = "postgres:" + " ".join(f"{key}={os.environ[name]}" for key, name in fields.items())
    return LakeLocation(catalog=catalog, data_path=str(paths.lake_data_dir()))


def results_store_location() -> Path | LakeLocation:
    """The results store of the current deployment (what the launchers read and register from)."""
    return deployment().resources()["results_store"].path


@dataclass(frozen=True)
class Deployment:
    """What differs between deployments: the resources, and how a run executes its steps."""

    resources: Callable[[], dict]
    # In process everywhere: a run is routed whole to a node of its hardware (`routing.py`), so its
    # steps share that node; the Celery executor would route steps by a static op tag instead.
    executor: dg.ExecutorDefinition = dg.in_process_executor


DEPLOYMENTS = {
    "local": Deployment(_local_resources),
    "ci": Deployment(_ci_resources),
    "cluster": Deployment(_cluster_resources),
}


def deployment(name: str | None = None) -> Deployment:
    """The deployment named by `name` or `MLPERF_DEPLOYMENT` (default `local`)."""
    chosen = name or os.environ.get("MLPERF_DEPLOYMENT", "local")
    if chosen not in DEPLOYMENTS:
        raise ValueError(f"unknown MLPERF_DEPLOYMENT {chosen!r}: expected one of {', '.join(DEPLOYMENTS)}")
    return DEPLOYMENTS[chosen]


def resources_for_deployment(name: str | None = None) -> dict:
    return deployment(name).resources()
