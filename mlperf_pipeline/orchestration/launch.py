"""Launchers behind the Makefile: register the catalogue, then one `dagster job execute` per range
(under `MLPERF_DEPLOYMENT=cluster`, one `dagster job launch` per range through the run queue).

    python -m mlperf_pipeline.orchestration.launch register
    python -m mlperf_pipeline.orchestration.launch bench --hardware cpu --tier critical
    python -m mlperf_pipeline.orchestration.launch bench --hardware cpu --models bert,gpt2
    python -m mlperf_pipeline.orchestration.launch bench --hardware cpu --tier critical --force   # re-measure anyway
    python -m mlperf_pipeline.orchestration.launch ceilings --hardware cpu   # measure the roofline's ceilings
    python -m mlperf_pipeline.orchestration.launch run        # the main job: what `make run` does

A run covers one contiguous partition range, so a set of model keys becomes one run per range.
Runs are incremental: a partition whose skillset, environment, bench version and grid are unchanged
since its last measurement is not measured again unless `--force` is given.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import dagster as dg

from mlperf_pipeline import paths
from mlperf_pipeline.catalog.catalog import build_catalog, partition_keys_in_tier_order, select
from mlperf_pipeline.hardware.detect import check_hardware, present_hardware
from mlperf_pipeline.orchestration.assets.catalog import register_model_types
from mlperf_pipeline.orchestration.partitions import (
    contiguous_ranges,
    model_type_partitions,
    range_tags,
    register_deployment_hardware,
    registered_hardware,
)
from mlperf_pipeline.orchestration.resources import results_store_location
from mlperf_pipeline.orchestration.run_health import mark_dead_runs_failed
from mlperf_pipeline.settings import FORCE_TAG, PROFILE_TAG, settings
from mlperf_pipeline.sizes import SIZES

DEFINITIONS_MODULE = "mlperf_pipeline.definitions"


def _instance() -> dg.DagsterInstance:
    if not os.environ.get("DAGSTER_HOME"):
        raise SystemExit("DAGSTER_HOME is not set: run through the Makefile, or export an absolute DAGSTER_HOME")
    return dg.DagsterInstance.get()


def register(hardware: list[str] = ()) -> list[str]:
    """Register the model types and the deployment's hardware (plus `hardware`, when asked for) as partitions."""
    entries = build_catalog(with_configs=False)
    with _instance() as instance:
        added = register_model_types(instance, partition_keys_in_tier_order(entries))
        added_hardware = register_deployment_hardware(instance, results_store_location(), extra=hardware)
        registered = registered_hardware(instance)
    print(
        f"model_type partitions: {len(added)} newly registered, {len(partition_keys_in_tier_order(entries))} in the catalogue"
    )
    print(f"hardware partitions: {', '.join(registered)} ({len(added_hardware)} newly registered)")
    return partition_keys_in_tier_order(entries)


def _wait_for(run_id: str, job: str, poll_s: float = 5.0, retry_wait_s: float = 60.0) -> None:
    """Wait for a queued run (cluster deployment) to end, printing its status as it changes; a
    failed run that the instance's run_retries launches again is followed to its retry."""
    with _instance() as instance:
        while True:
            status = _follow(instance, run_id, job, poll_s)
            retry = _retry_of(instance, run_id, retry_wait_s, poll_s) if status == "FAILURE" else None
            if retry is None:
                break
            print(f"{job} run {run_id} failed; run_retries launched it again as {retry}", flush=True)
            run_id = retry
    if status != "SUCCESS":
        raise SystemExit(f"{job} run {run_id} ended {status or 'missing'}; see the Dagster UI")


def _follow(instance: dg.DagsterInstance, run_id: str, job: str, poll_s: float) -> str | None:
    last = None
    while True:
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run else None
        if status != last:
            where = f" on queue {run.tags.get('dagster-celery/queue')}" if run and run.tags else ""
            print(f"{job} run {run_id}: {status or 'not found'}{where}", flush=True)
            last = status
        if status in (None, "SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(poll_s)


def _retry_of(instance: dg.DagsterInstance, run_id: str, wait_s: float, poll_s: float) -> str | None:
    """The run that run_retries launched for the failed `run_id`, if retries are on and it comes."""
    run = instance.get_run_by_id(run_id)
    tries = int(run.tags.get("dagster/retry_number", 0)) if run else 0
    if not instance.run_retries_enabled or tries >= instance.run_retries_max_retries:
        return None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}), limit=1)
        if retries:
            return retries[0].run_id
        time.sleep(poll_s)
    return None


def execute_job(job: str, tags: dict[str, str], run_config: dict | None = None) -> None:
    """One run of `job`: `dagster job execute` here, or on a cluster `dagster job launch` through the
    run queue (which routes it to a worker of its hardware), waiting for it to end."""
    queued = os.environ.get("MLPERF_DEPLOYMENT") == "cluster"
    run_id = str(uuid.uuid4())
    verb = ["launch", "--run-id", run_id] if queued else ["execute"]
    command = [sys.executable, "-m", "dagster", "job", *verb, "-m", DEFINITIONS_MODULE, "-j", job]
    command += ["--tags", json.dumps(tags)]
    config_path = paths.mlperf_home() / f"run_config_{os.getpid()}.json"
    if run_config:
        config_path.write_text(json.dumps(run_config))
        command += ["-c", str(config_path)]
    print(
        f"$ dagster job {verb[0]} -j {job} --tags '{json.dumps(tags)}'"
        + (f" -c '{json.dumps(run_config)}'" if run_config else ""),
        flush=True,
    )
    started = time.monotonic()
    try:
        completed = subprocess.run(command)
    finally:
        config_path.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise SystemExit(f"{job} failed (exit code {completed.returncode}); see the log above or the Dagster UI")
    if queued:
        _wait_for(run_id, job)
    print(f"{job} finished in {time.monotonic() - started:.0f} s", flush=True)


def bench(
    hardware_names: list[str],
    tier: str | None,
    models: list[str] | None,
    profile: str | None,
    size: list[str] | None,
    force: bool = False,
) -> None:
    register(hardware_names)
    wanted = [entry.partition_key for entry in select(build_catalog(with_configs=False), tier=tier, models=models)]
    with _instance() as instance:
        registered = instance.get_dynamic_partitions(model_type_partitions.name)
        for run_id in mark_dead_runs_failed(instance):
            print(f"marked run {run_id} failed: its process is gone")
    run_config = (
        {"ops": {"benchmark_results": {"config": {"size": size if len(size) > 1 else size[0]}}}} if size else None
    )
    for hardware in hardware_names:
        for first, last in contiguous_ranges(wanted, registered):
            tags = {
                **range_tags(hardware, first, last),
                PROFILE_TAG: profile or "default",
                **({FORCE_TAG: "true"} if force else {}),
            }
            execute_job("benchmark_job", tags, run_config)


def ceilings(hardware_names: list[str], only_missing: bool = False) -> None:
    """One `ceilings_job` run per hardware; `only_missing`: only where none are stored yet."""
    from mlperf_pipeline.store.modelling import read_latest_ceilings

    with _instance() as instance:
        register_deployment_hardware(instance, results_store_location(), extra=hardware_names)
    stored = set(read_latest_ceilings(results_store_location())["hardware"]) if only_missing else set()
    for hardware in hardware_names:
        if hardware not in stored:
            execute_job("ceilings_job", {"dagster/partition": hardware})


def _sizes(text: str) -> list[str]:
    sizes = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in sizes if name not in SIZES]
    if not sizes or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown size {', '.join(unknown) or repr(text)}: expected {', '.join(SIZES)}"
        )
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mlperf_pipeline.orchestration.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("register", help="register every benchmarkable model type as a model_type partition")
    commands.add_parser("ceilings", help="measure the roofline ceilings of hardware").add_argument(
        "--hardware", default="", help="comma-separated hardware (default: every present one)"
    )
    for name in ("bench", "run"):
        command = commands.add_parser(
            name,
            help="benchmark a tier or named models"
            if name == "bench"
            else "the main job: a tier on every present hardware, then analysis and the report",
        )
        command.add_argument("--hardware", default="", help="comma-separated hardware (default: every present one)")
        command.add_argument("--tier", default=None, help="critical, high, medium or all")
        command.add_argument("--models", default="", help="comma-separated model types")
        command.add_argument(
            "--profile",
            default=None,
            help="benchmark profile from defaults.yaml (default: `main` for run, `default` for bench)",
        )
        command.add_argument(
            "--size", default=None, type=_sizes, help=f"a size from {', '.join(SIZES)}, or a comma-separated list"
        )
        command.add_argument(
            "--force",
            action="store_true",
            help="re-measure partitions whose inputs are unchanged (tag mlperf/force=true)",
        )
    args = parser.parse_args(argv)
    if args.command == "register":
        register()
        return
    hardware = [check_hardware(name) for name in args.hardware.split(",") if name] or present_hardware()
    if args.command == "ceilings":
        ceilings(hardware)
        return
    if args.command == "run":  # the rows' roofline fractions need the ceilings: measured once, first
        ceilings(hardware, only_missing=True)
    models = [name for name in args.models.split(",") if name] or None
    tier = args.tier or (None if models else settings()["default_tier"])
    # The main job measures its tier at full size where that fits, tiny for coverage (profile `main`).
    profile = args.profile or ("main" if args.command == "run" else None)
    bench(hardware, tier, models, profile, args.size, args.force)
    if args.command == "run":
        # The predictor predicts what the run measured (its default, the whole catalogue, counts every
        # type on the meta device the first time: minutes more than `make run` may take).
        entries = select(build_catalog(with_configs=False), tier=tier, models=models)
        measured = [entry.model_type for entry in entries if entry.has_model_class]
        predictor = {"ops": {"performance_predictor": {"config": {"model_types": measured}}}}
        execute_job("analysis_job", {}, predictor)
        print(f"report: {paths.reports_dir() / 'report.html'}")


if __name__ == "__main__":
    main()
