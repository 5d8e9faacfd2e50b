"""Agreement with torch.utils.benchmark, and how long our engine takes to reach a verdict.

    .venv/bin/python benchmarks/agreement.py [--models bert,gpt2,t5,vit,whisper] [--solo-rounds 3] [--rounds 5] [--floor-rounds 3]

Part 1, time to a verdict. Our benchmark alone, as the pipeline runs it (fork server, its default
time cap per configuration, wait policy chosen from the host's load), `--solo-rounds` times per
model (full size, batch 1, seq 128): wall time from request to verdict (load probe and process
start included), status and reason, and how often it was valid.

Part 2, agreement. Two processes with the same thread count and OpenMP settings measure the same
skillset at the same time, taking turns (`mlperf_pipeline.bench.turns`): our isolated benchmark,
unchanged (stop rule, validity verdict), and a reference process timing the same call with
`torch.utils.benchmark.Timer.blocked_autorange`. Each holds the token for a slice of calls (at
least `--slice-s`, and at least 5 calls at the latency part 1 measured), then hands over. On this
shared host the true latency drifts by 30% or more within a minute, so two tools measured one after
the other disagree by the drift; taking turns puts both on the same stretch of time. Both are
judged by one rule: the 95% order-statistic CI of the median within the target (default ±2%). A
round's ratio counts only when both were valid; a round where either was not says so, and rounds
repeat (up to `--rounds`) until `--valid-rounds` were valid for both.

Both run with OMP_WAIT_POLICY=ACTIVE, as the pipeline does on an idle host, and a bounded
GOMP_SPINCOUNT: otherwise the waiting process's idle OpenMP workers would spin on the cores the
other one is measuring on.

Part 3, noise floor. Two identical reference processes take turns the same way, `--floor-rounds`
times per model, for as many turns as our benchmark took to its verdict in part 2. Two processes
running the same code on the same timeline still land apart by the sampling noise of their
verdicts (and, before malloc was pinned, by up to 6% more: see `runner.PINNED_MALLOC_TUNABLES`), so
this is the closest agreement any two tools could show in one round.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlperf_pipeline.bench.forkserver import ForkServerPool
from mlperf_pipeline.bench.request import DEFAULT_MAX_SECONDS_PER_CONFIG, BenchRequest
from mlperf_pipeline.bench.runner import child_environment, run_isolated
from mlperf_pipeline.bench.stats import ci_half_width_pct
from mlperf_pipeline.bench.turns import DONE, TOKEN, TURNS_ENV, paired_turn_ratios
from mlperf_pipeline.hardware.detect import inventory, usable_cores
from mlperf_pipeline.catalog.catalog import entry_for
from mlperf_pipeline.skillsets.checks import CheckStore
from mlperf_pipeline.skillsets.generate import checked_specs, generate
from mlperf_pipeline.skillsets.isolated import DEFAULT_PRELOAD, IsolatedCalls, model_modules

nan = float("nan")
# While one process measures, the other's idle OpenMP workers must sleep: under ACTIVE, libgomp
# spins them forever (a whole core per worker, checked), unless the spin count is bounded. 300000
# spins is a few milliseconds: within a forward pass the workers still spin as under ACTIVE.
TURN_TAKING_ENV = {"GOMP_SPINCOUNT": "300000"}
CALLS_PER_TURN = 5
CALLS_PER_ROUND = 30  # per tool: the cap grows for slow models so that each gets about this many

REFERENCE_SCRIPT = """
import json, os, sys, time
started = time.perf_counter()
import torch
from torch.utils import benchmark
from pathlib import Path
from mlperf_pipeline.bench.turns import DONE, TurnGate
from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module
path, threads, seq_len, wait_fifo, pass_fifo, slice_s, hands_over_first, max_turns = sys.argv[1:9]
WARMUP_CALLS = 5
torch.set_num_threads(int(threads))
module = load_skillset_module(Path(path))
model = module.build("full")
inputs = module.inputs(model, 1, int(seq_len))
gate = TurnGate(wait_fifo, pass_fifo, float(slice_s))
timer = benchmark.Timer(stmt="model(**inputs)", globals={"model": model, "inputs": inputs}, num_threads=int(threads))
measurements = []
with torch.inference_mode():
    for _ in range(WARMUP_CALLS):  # before the first turn, so every turn it gets is measured
        model(**inputs)
    if hands_over_first == "1":
        gate.hand_over()  # built and warm: the other process may start measuring
    while gate.before_call():
        # One block per turn; blocked_autorange's own block-size estimate is its warm-up after each hand-over.
        measurements.append((gate.turns, timer.blocked_autorange(min_run_time=float(slice_s))))
        if int(max_turns) and gate.turns >= int(max_turns):
            os.write(gate.pass_fd, DONE)  # its last turn: the peer stops instead of taking another
            break
merged = benchmark.Measurement.merge([m for _, m in measurements])[0] if measurements else None
print(json.dumps({"times_ms": [t * 1000 for t in merged.times] if merged else [], "median_ms": merged.median * 1000 if merged else None,
                  "turn_times_ms": [[turn, [t * 1000 for t in m.times]] for turn, m in measurements],
                  "iqr_warning": bool(merged and merged.has_warnings), "turns": gate.turns, "wall_s": time.perf_counter() - started}))
"""


def _ours(
    skillset: str, model_type: str, args, max_s: float, policy: str, work_dir: Path, fork_servers: ForkServerPool | None
) -> dict:
    request = BenchRequest(
        skillset_path=skillset,
        model_type=model_type,
        hardware="cpu",
        size="full",
        seq_lens=[args.seq_len],
        threads=args.threads,
        max_seconds_per_config=max_s,
        target_ci_pct=args.target_ci_pct,
        processes=1,  # one process against one reference process: the single-process stop rule
    )
    started = time.monotonic()
    outcome = run_isolated(
        request, lock_dir=work_dir, timeout_s=4 * max_s + 120, omp_wait_policy=policy, fork_servers=fork_servers
    )
    result = next((r for r in outcome.records if r.get("kind") == "result"), {})
    low, high, median = result.get("ci95_low_ms"), result.get("ci95_high_ms"), result.get("latency_ms_p50")
    return {
        "median_ms": median,
        "valid": result.get("status") == "ok",
        "status": result.get("status") or outcome.reason_code,
        "reason": result.get("reason") or outcome.reason,
        "n": result.get("n_samples"),
        "samples_ms": result.get("samples", []),
        "sample_turns": result.get("sample_turns", []),
        "ci_pct": 100 * (high - low) / 2 / median if low is not None and high is not None and median else None,
        "policy": outcome.extra.get("omp_wait_policy", policy),
        "wall_s": time.monotonic() - started,
    }


def _judged_reference(result: dict, target_ci_pct: float) -> dict:
    """The reference's own times, judged by our validity rule; its IQR warning is kept beside."""
    half_width = ci_half_width_pct(result["times_ms"]) if result["times_ms"] else None
    return {
        **result,
        "n": len(result["times_ms"]),
        "ci_pct": half_width,
        "valid": half_width is not None and half_width <= target_ci_pct,
    }


def _turn_taking_environment(threads: int, policy: str) -> dict[str, str]:
    return {**child_environment(threads, policy), **TURN_TAKING_ENV}


def _turn_pipes(work_dir: Path, *names: str) -> list[Path]:
    fifos = [work_dir / f"{name}.fifo" for name in names]
    for fifo in fifos:
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
    return fifos


def _start_reference(
    skillset: str, args, wait_fifo: Path, pass_fifo: Path, slice_s: float, hands_over_first: bool, max_turns: int = 0
):
    stderr = open(wait_fifo.with_suffix(".stderr"), "w+")  # a file, not a pipe: a chatty process never blocks on it
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            REFERENCE_SCRIPT,
            skillset,
            str(args.threads),
            str(args.seq_len),
            str(wait_fifo),
            str(pass_fifo),
            str(slice_s),
            "1" if hands_over_first else "0",
            str(max_turns),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_turn_taking_environment(args.threads, "ACTIVE"),
    )
    stderr.close()
    return process


def _tell(fifo: Path, message: bytes) -> None:
    fd = os.open(fifo, os.O_RDWR)
    os.write(fd, message)
    os.close(fd)


def _reference_result(process, wait_fifo: Path, started: float, target_ci_pct: float, timeout_s: float = 120) -> dict:
    try:
        stdout, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, _ = process.communicate()
    if process.returncode != 0:
        error = wait_fifo.with_suffix(".stderr").read_text()[-300:] or f"exit status {process.returncode}"
        return {"median_ms": None, "valid": False, "n": 0, "error": error, "wall_s": time.monotonic() - started}
    return {
        **_judged_reference(json.loads(stdout.strip().splitlines()[-1]), target_ci_pct),
        "wall_s": time.monotonic() - started,
    }


def _interleaved_round(
    skillset: str,
    model_type: str,
    args,
    slice_s: float,
    cap_s: float,
    work_dir: Path,
    fork_servers: ForkServerPool | None,
) -> tuple[dict, dict]:
    ours_fifo, reference_fifo = _turn_pipes(work_dir, "ours", "reference")
    started = time.monotonic()
    reference = _start_reference(skillset, args, reference_fifo, ours_fifo, slice_s, hands_over_first=True)
    os.environ.update({TURNS_ENV: f"{ours_fifo}:{reference_fifo}:{slice_s}", **TURN_TAKING_ENV})
    try:
        ours = _ours(skillset, model_type, args, cap_s, "ACTIVE", work_dir, fork_servers)
    finally:
        for name in (TURNS_ENV, *TURN_TAKING_ENV):
            del os.environ[name]
        # Our benchmark finished (or failed), holding the token: the reference gets a last turn, as it
        # would have had the token come back, then stops. One quick verdict still leaves it a turn.
        _tell(reference_fifo, TOKEN + DONE)
    return ours, _reference_result(reference, reference_fifo, started, args.target_ci_pct)


def _wait_pair(pair: list[tuple[subprocess.Popen, Path]], timeout_s: float) -> None:
    """Wait for two turn-taking processes. When one exits, the other is told to stop: it would
    otherwise wait for the token for ever. Whatever still runs at the deadline is killed."""
    deadline, told = time.monotonic() + timeout_s, set()
    try:
        while any(process.poll() is None for process, _ in pair) and time.monotonic() < deadline:
            for index, (process, _) in enumerate(pair):
                if process.poll() is not None and index not in told:
                    _tell(pair[1 - index][1], DONE)
                    told.add(index)
            time.sleep(0.1)
    finally:
        for process, _ in pair:
            if process.poll() is None:
                process.kill()


def _floor_round(skillset: str, args, slice_s: float, cap_s: float, turns: int, work_dir: Path) -> dict:
    """Two identical reference processes taking turns, `turns` each, the first one measuring first
    as our benchmark does in part 2: how far apart two runs of one tool land here."""
    first_fifo, second_fifo = _turn_pipes(work_dir, "first", "second")
    # Held open here for the round: a pipe that nobody holds open drops what was written to it, and
    # a stop message may be written before the process it is for has opened its pipe.
    held = [os.open(fifo, os.O_RDWR) for fifo in (first_fifo, second_fifo)]
    started = time.monotonic()
    try:
        second = _start_reference(
            skillset, args, second_fifo, first_fifo, slice_s, hands_over_first=True, max_turns=turns
        )
        first = _start_reference(skillset, args, first_fifo, second_fifo, slice_s, hands_over_first=False)
        _wait_pair([(first, first_fifo), (second, second_fifo)], timeout_s=2 * cap_s + 120)
    finally:
        for fd in held:
            os.close(fd)
    first_result, second_result = (
        _reference_result(process, fifo, started, args.target_ci_pct, timeout_s=10)
        for process, fifo in ((first, first_fifo), (second, second_fifo))
    )
    if first_result.get("error") or second_result.get("error"):
        return {"ratio": None, "turn_ratios": [], "error": first_result.get("error") or second_result.get("error")}
    first_turns = [(turn, time_ms) for turn, times in first_result["turn_times_ms"] for time_ms in times]
    return {
        "ratio": first_result["median_ms"] / second_result["median_ms"],
        "first": first_result,
        "second": second_result,
        "turn_ratios": paired_turn_ratios(
            [turn for turn, _ in first_turns], [t for _, t in first_turns], second_result["turn_times_ms"]
        ),
    }


def _turn_budget(latency_ms: float, args) -> tuple[float, float]:
    """Seconds per turn and per round: enough calls per turn and per round for slow models too."""
    latency_s = latency_ms / 1000
    return max(args.slice_s, CALLS_PER_TURN * latency_s), max(args.max_seconds, 2 * CALLS_PER_ROUND * latency_s)


def _floor_turns(model_type: str, agreement: list[dict], slice_s: float, cap_s: float) -> int:
    """As many turns as our benchmark took to its verdict in part 2 (median), so that the floor is
    measured at the sample sizes actually compared; without part 2, the whole round."""
    ours = [
        max(row["ours"]["sample_turns"])
        for row in agreement
        if row["model"] == model_type and row["ours"]["sample_turns"]
    ]
    return max(2, math.ceil(statistics.median(ours)) if ours else round(cap_s / (2 * slice_s)))


def _noise_floor(
    models: list[str], skillsets: dict, latency_ms: dict, args, work_dir: Path, agreement: list[dict]
) -> list[dict]:
    print(
        f"\nnoise floor: the reference against itself, two identical processes taking turns as above ({args.floor_rounds} rounds a model,"
        " as many turns as our benchmark took to its verdict)"
    )
    print(
        f"{'model':<9}{'round':>6}{'first ms':>10}{'second ms':>10}{'ratio':>8}{'both ok':>9}  {'paired':<8}{'turns':>6}"
    )
    rows = []
    for model_type in models:
        slice_s, cap_s = _turn_budget(latency_ms.get(model_type, 0.0), args)
        turns = _floor_turns(model_type, agreement, slice_s, cap_s)
        for round_index in range(args.floor_rounds):
            row = {"model": model_type, **_floor_round(skillsets[model_type], args, slice_s, cap_s, turns, work_dir)}
            rows.append(row)
            if row.get("error"):
                print(f"{model_type:<9}{round_index:>6}  reference failed: {row['error']}")
                continue
            both_valid = row["first"]["valid"] and row["second"]["valid"]
            print(
                f"{model_type:<9}{round_index:>6}{row['first']['median_ms']:>10.2f}{row['second']['median_ms']:>10.2f}{row['ratio']:>8.3f}"
                f"{str(both_valid):>9}  {statistics.median(row['turn_ratios']) if row['turn_ratios'] else nan:<8.3f}{len(row['turn_ratios']):>6}",
                flush=True,
            )
    return rows


def _agreement(models: list[str], skillsets: dict, latency_ms: dict, args, work_dir: Path, fork_servers) -> list[dict]:
    print(
        f"\nagreement: turns of at least {args.slice_s:g} s and {CALLS_PER_TURN} calls, threads={args.threads}, "
        f"OMP_WAIT_POLICY=ACTIVE GOMP_SPINCOUNT={TURN_TAKING_ENV['GOMP_SPINCOUNT']}, seq_len={args.seq_len}, batch=1, size=full, "
        f"cap {args.max_seconds:g} s (or {2 * CALLS_PER_ROUND} calls) for both together, target ±{args.target_ci_pct:g}%"
    )
    print(
        "ratio = our median / reference median; paired = median of per-turn ratios, each turn of ours over the reference turns around it"
    )
    print(
        f"{'model':<9}{'round':>6}{'ours ms':>10}{'ref ms':>10}{'ratio':>8}{'ours ok':>9}{'±CI%':>7}{'n':>5}{'ref ok':>8}{'±CI%':>7}{'n':>5}"
        f"{'ref IQR warn':>13}  {'paired':<8}{'turns':>6}{'wall s':>7}{'turn s':>7}{'cap s':>6}"
    )
    rows = []
    for model_type in models:
        slice_s, cap_s = _turn_budget(latency_ms.get(model_type, 0.0), args)
        for round_index in range(args.rounds):
            if sum(row["both_valid"] for row in rows if row["model"] == model_type) >= args.valid_rounds:
                break
            ours, reference = _interleaved_round(
                skillsets[model_type], model_type, args, slice_s, cap_s, work_dir, fork_servers
            )
            ratio = ours["median_ms"] / reference["median_ms"] if ours["median_ms"] and reference["median_ms"] else None
            turn_ratios = paired_turn_ratios(
                ours["sample_turns"], ours["samples_ms"], reference.get("turn_times_ms", [])
            )
            rows.append(
                {
                    "model": model_type,
                    "ours": ours,
                    "reference": reference,
                    "ratio": ratio,
                    "turn_ratios": turn_ratios,
                    "both_valid": bool(ratio and ours["valid"] and reference["valid"]),
                }
            )
            print(
                f"{model_type:<9}{round_index:>6}{ours['median_ms'] or nan:>10.2f}{reference['median_ms'] or nan:>10.2f}"
                f"{ratio or nan:>8.3f}{str(ours['valid']):>9}{ours.get('ci_pct') or nan:>7.1f}{ours.get('n') or 0:>5}"
                f"{str(reference['valid']):>8}{reference.get('ci_pct') or nan:>7.1f}{reference.get('n') or 0:>5}"
                f"{str(reference.get('iqr_warning', '')):>13}  {statistics.median(turn_ratios) if turn_ratios else nan:<8.3f}{len(turn_ratios):>6}{reference['wall_s']:>7.1f}{slice_s:>7.1f}{cap_s:>6.1f}",
                flush=True,
            )
            if not ours["valid"]:
                print(f"{'':<15}ours: {ours['status']}: {ours['reason']}")
            if reference.get("error"):
                print(f"{'':<15}reference failed: {reference['error']}")
    return rows


def _time_to_verdict(models: list[str], skillsets: dict, args, work_dir: Path, fork_servers) -> list[dict]:
    print(
        f"\ntime to a verdict: our benchmark alone, as the pipeline runs it (cap {DEFAULT_MAX_SECONDS_PER_CONFIG:g} s per configuration, "
        f"wait policy auto, {'fork server' if fork_servers else 'new interpreter'})"
    )
    print(f"{'model':<9}{'round':>6}{'ms':>10}{'status':>9}{'±CI%':>7}{'n':>5}{'policy':>9}{'wall s':>8}  reason")
    rows = []
    for model_type in models:
        for round_index in range(args.solo_rounds):
            ours = _ours(
                skillsets[model_type], model_type, args, DEFAULT_MAX_SECONDS_PER_CONFIG, "auto", work_dir, fork_servers
            )
            rows.append({"model": model_type, "ours": ours})
            print(
                f"{model_type:<9}{round_index:>6}{ours['median_ms'] or nan:>10.2f}{ours['status']:>9}{ours.get('ci_pct') or nan:>7.1f}"
                f"{ours.get('n') or 0:>5}{ours['policy']:>9}{ours['wall_s']:>8.1f}  {ours['reason'] or ''}",
                flush=True,
            )
    return rows


def _log_spread_pct(ratios: list[float]) -> float | None:
    """Standard deviation of log ratios, in percent: how far apart two processes' medians land."""
    logs = [math.log(ratio) for ratio in ratios if ratio]
    return 100 * statistics.stdev(logs) if len(logs) > 1 else None


def _ratios(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values) or "n/a"


def _summary(agreement: list[dict], solo: list[dict], floor: list[dict]) -> None:
    print(
        "\nsummary\n  ratio: median over rounds where both were valid by the same rule (95% CI of the median within the target)\n"
        "  rounds: every round's ratio; paired: each round's median per-turn ratio, which drift cannot move\n"
        "  floor: the reference against itself; a ratio between two tools cannot be expected to be tighter than this"
    )
    for model in dict.fromkeys(row["model"] for row in agreement + solo + floor):
        pairs = [row for row in agreement if row["model"] == model]
        alone = [row["ours"] for row in solo if row["model"] == model]
        selves = [row["ratio"] for row in floor if row["model"] == model and row["ratio"]]
        line = f"  {model:<9}"
        if pairs:
            both_valid = [row["ratio"] for row in pairs if row["both_valid"]]
            if both_valid:
                median_ratio = statistics.median(both_valid)
                ratio = f"{median_ratio:.3f} ({'within' if 0.95 <= median_ratio <= 1.05 else 'OUTSIDE'} 0.95-1.05)"
            else:
                ratio = "n/a (no round valid for both)"
            paired = _ratios([statistics.median(row["turn_ratios"]) for row in pairs if row["turn_ratios"]])
            line += (
                f" ratio {ratio:<30} valid: ours {sum(r['ours']['valid'] for r in pairs)}/{len(pairs)}, "
                f"reference {sum(r['reference']['valid'] for r in pairs)}/{len(pairs)}; rounds {_ratios([r['ratio'] for r in pairs if r['ratio']])};"
                f" paired {paired};"
            )
        if selves:
            line += f" floor {_ratios(selves)};"
        if alone:
            walls = [run["wall_s"] for run in alone]
            line += (
                f" alone: valid {sum(run['valid'] for run in alone)}/{len(alone)}, wall median {statistics.median(walls):.1f} s,"
                f" max {max(walls):.1f} s"
            )
        print(line)
    between_tools = _log_spread_pct([row["ratio"] for row in agreement])
    within_tool = _log_spread_pct([row["ratio"] for row in floor])
    if between_tools is not None or within_tool is not None:
        print(
            f"  spread of one round's ratio (SD of log ratio, all rounds and models): ours/reference "
            f"{f'{between_tools:.1f}%' if between_tools is not None else 'n/a'}, reference/reference "
            f"{f'{within_tool:.1f}%' if within_tool is not None else 'n/a'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bert,gpt2,t5,vit,whisper")
    parser.add_argument("--solo-rounds", type=int, default=3, help="time-to-verdict runs per model (0 skips part 1)")
    parser.add_argument("--rounds", type=int, default=5, help="most agreement rounds per model (0 skips part 2)")
    parser.add_argument(
        "--valid-rounds", type=int, default=3, help="agreement rounds valid for both after which a model is done"
    )
    parser.add_argument(
        "--floor-rounds", type=int, default=3, help="rounds per model of the reference against itself (0 skips part 3)"
    )
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="our time cap in the agreement part; both tools share it turn by "
        "turn, so each gets about half (default 20: a 700 ms call gets ~14 samples each)",
    )
    parser.add_argument("--slice-s", type=float, default=1.0, help="seconds of calls per turn before handing over")
    parser.add_argument(
        "--target-ci-pct",
        type=float,
        default=2.0,
        help="validity target for both tools: 95%% CI of the median within ±this",
    )
    parser.add_argument("--threads", type=int, default=usable_cores())
    parser.add_argument(
        "--new-interpreter",
        action="store_true",
        help="start each of our benchmarks in a new interpreter instead of "
        "forking it from a preloaded server (the pipeline's default launcher)",
    )
    args = parser.parse_args()
    devices = inventory()
    models = args.models.split(",")
    entries = {name: entry_for(name) for name in models}
    model_classes = sorted({entry.model_class for entry in entries.values()})
    with (
        tempfile.TemporaryDirectory() as work,
        ForkServerPool(lambda policy: child_environment(args.threads, policy), model_classes) as pipeline_servers,
        ForkServerPool(lambda policy: _turn_taking_environment(args.threads, policy), model_classes) as turn_servers,
    ):
        work_dir = Path(work)
        if not args.new_interpreter:
            started = time.monotonic()
            turn_servers.get("ACTIVE")
            pipeline_servers.get("ACTIVE")
            print(
                f"fork servers started in {time.monotonic() - started:.1f} s (torch, transformers and {len(model_classes)} model "
                "modules preloaded; paid once per pipeline step, not per benchmark)"
            )
        # The pipeline's own path: shrink rungs chosen by checks in isolated processes.
        calls = IsolatedCalls(preload=(*DEFAULT_PRELOAD, *model_modules(model_classes)))
        specs = checked_specs(list(entries.values()), CheckStore(None), calls)
        skillsets = {
            name: generate(specs[entry.model_type][0], devices["cpu"], work_dir, None, devices).path
            for name, entry in entries.items()
        }
        solo = (
            _time_to_verdict(models, skillsets, args, work_dir, None if args.new_interpreter else pipeline_servers)
            if args.solo_rounds
            else []
        )
        latency_ms = {
            model: statistics.median(runs)
            for model in models
            if (
                runs := [row["ours"]["median_ms"] for row in solo if row["model"] == model and row["ours"]["median_ms"]]
            )
        }
        agreement = (
            _agreement(models, skillsets, latency_ms, args, work_dir, None if args.new_interpreter else turn_servers)
            if args.rounds
            else []
        )
        floor = _noise_floor(models, skillsets, latency_ms, args, work_dir, agreement) if args.floor_rounds else []
    _summary(agreement, solo, floor)


if __name__ == "__main__":
    main()
