"""Routing on a cluster: a run goes whole to a worker or node that has its partitions' hardware.

Whole runs, not steps: the Celery executor takes a step's queue from the op's static tag, so one
`benchmark_results` step cannot be routed by its partition that way. Instead each run carries the
queue of its hardware (`dagster-celery/queue`, which dagster-celery's `CeleryRunLauncher` reads) and
its Kubernetes placement (`dagster-k8s/config`, which `K8sRunLauncher` reads), and runs its steps in
process on the worker it landed on: skillsets and their benchmarks share one node's disk.

`routing_tags_for` derives those tags from the tags every launch path already sets (the UI, a
backfill, the schedule, a sensor and `dagster job launch` all tag a run with its partition or
partition range), so nobody has to type them. `RoutingRunCoordinator` applies them to every run it
queues; `check_worker_serves` stops a `dagster job execute`, which bypasses the queue, on a node of
the wrong kind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from mlperf_pipeline.hardware.detect import HARDWARE
from mlperf_pipeline.orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG
from mlperf_pipeline.settings import routing_settings

PARTITION_TAG = "dagster/partition"
HARDWARE_DIMENSION_TAG = "dagster/partition/hardware"  # what Dagster sets on a run of one multi-partition key
CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"
HARDWARE_TAG = "mlperf/hardware"
# A retry (run_retries) re-runs every step, not only the failed ones: it may land on another node,
# which has none of the first run's step outputs or skillset files, and every step is incremental
# (it redoes only what is not stored), so the retry measures only what the first run left missing.
RETRY_STRATEGY_TAG = "dagster/retry_strategy"
RETRY_ALL_STEPS = {RETRY_STRATEGY_TAG: "ALL_STEPS"}
# The hardware kinds this worker's queues serve, e.g. `cuda` (set by whoever starts the worker).
WORKER_HARDWARE_ENV = "MLPERF_WORKER_HARDWARE"


class RoutingError(ValueError):
    """A run that cannot go to one kind of worker: it names the partitions and what to do instead."""


def _hardware_of_key(key: str) -> str | None:
    """`cpu` of `cpu|bert` or of a hardware partition `cpu`; None for a key of another dimension."""
    if "|" in key:
        return key.split("|", 1)[0]
    return key if key in HARDWARE else None


def run_hardware(tags: Mapping[str, str]) -> str | None:
    """The one hardware kind a run's partitions cover; None for a run with no hardware partition."""
    if tags.get(HARDWARE_DIMENSION_TAG):
        return tags[HARDWARE_DIMENSION_TAG]
    if tags.get(PARTITION_TAG):
        return _hardware_of_key(tags[PARTITION_TAG])
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not start or not end:
        return None
    first, last = _hardware_of_key(start), _hardware_of_key(end)
    if first != last:
        raise RoutingError(
            f"the partition range {start} ... {end} spans hardware {first} and {last}, and a run goes whole "
            f"to one kind of worker: launch one run per hardware ({first}|... and {last}|...), or a backfill, "
            "which launches a run per partition"
        )
    return first


def _k8s_config(route: Mapping) -> dict:
    """`dagster-k8s/config` for a run on this hardware: the node that has it, one device held."""
    config: dict = {}
    pod_spec = {}
    if route.get("node_selector"):
        pod_spec["node_selector"] = dict(route["node_selector"])
    if route.get("tolerations"):
        pod_spec["tolerations"] = [dict(toleration) for toleration in route["tolerations"]]
    if pod_spec:
        config["pod_spec_config"] = pod_spec
    if route.get("device_resource"):
        config["container_config"] = {"resources": {"limits": {route["device_resource"]: "1"}}}
    return config


def routing_tags_for(tags: Mapping[str, str], routing: Mapping | None = None) -> dict[str, str]:
    """The routing tags a run with `tags` needs; raises RoutingError for a run no worker can take."""
    routing = routing or routing_settings()
    hardware = run_hardware(tags)
    retry = {} if RETRY_STRATEGY_TAG in tags else RETRY_ALL_STEPS  # one the launcher chose stays
    if hardware is None:
        return {CELERY_QUEUE_TAG: routing["default_queue"], **retry}
    route = routing["hardware"].get(hardware)
    if route is None:
        raise RoutingError(
            f"no route for hardware {hardware!r}: add it under routing.hardware in the settings "
            f"(routed now: {', '.join(routing['hardware'])})"
        )
    routed = {HARDWARE_TAG: hardware, CELERY_QUEUE_TAG: route["queue"]}
    k8s_config = _k8s_config(route)
    if k8s_config:
        routed[K8S_CONFIG_TAG] = json.dumps(k8s_config, sort_keys=True)
    clashing = [name for name, value in routed.items() if name in tags and tags[name] != value]
    if clashing:
        raise RoutingError(
            f"the run's tags {', '.join(f'{name}={tags[name]!r}' for name in clashing)} send its {hardware} "
            f"partitions elsewhere than their route ({', '.join(f'{name}={routed[name]!r}' for name in clashing)}): "
            "drop those tags, the routing sets them"
        )
    return {**routed, **retry}


def worker_hardware() -> list[str] | None:
    """The hardware kinds this process's worker serves, from `MLPERF_WORKER_HARDWARE`; None when unset."""
    configured = os.environ.get(WORKER_HARDWARE_ENV, "").strip()
    return [name.strip() for name in configured.split(",") if name.strip()] if configured else None


def check_worker_serves(hardware_names: Iterable[str]) -> None:
    """On a cluster worker, refuse partitions of hardware it does not serve (a `dagster job execute`
    on the wrong node); outside a worker (`MLPERF_WORKER_HARDWARE` unset) there is nothing to check."""
    served = worker_hardware()
    if served is None:
        return
    foreign = sorted({name for name in hardware_names if name not in served})
    if foreign:
        raise RoutingError(
            f"this worker serves {', '.join(served)} ({WORKER_HARDWARE_ENV}), not {', '.join(foreign)}: "
            "launch the run (`dagster job launch`, the UI, `make bench`) so that it is queued to a worker of "
            "that hardware, rather than `dagster job execute` here"
        )
