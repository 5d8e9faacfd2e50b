"""Sweep every model type at `tiny` size on cpu: build offline, one forward, outputs finite.

Each type runs in its own forked child with a wall-clock timeout, so a crash or a hang of one
type is recorded and the sweep goes on. The parent preloads torch, transformers and the model
modules (imports only: computing before a fork can deadlock the child), so a child starts in
milliseconds instead of paying the imports again.

    python benchmarks/coverage.py                       # all 649 types, 2 workers
    python benchmarks/coverage.py --models bert,llava   # a few
    python benchmarks/coverage.py --limit 50 --json out.json
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import sys
import time
from multiprocessing.connection import wait

# The children must not fight over the two cores: one thread each, no spin-waiting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

OK = "ok"


def check_one(model_type: str, batch_size: int, seq_len: int) -> dict:
    """Spec, build, inputs, forward and finiteness for one type; never raises."""
    import torch

    from mlperf_pipeline.catalog.catalog import entry_for
    from mlperf_pipeline.skillsets.runtime import NonFiniteOutput, build_model, first_tensor, make_inputs, reason_code
    from mlperf_pipeline.skillsets.spec import build_spec

    torch.set_num_threads(1)
    result = {"model_type": model_type, "status": "failed"}
    phase = "spec"
    started = time.perf_counter()
    try:
        spec = build_spec(entry_for(model_type))
        result.update(family=spec.entry.family, params_full=spec.params.get("full"))
        phase = "build"
        model = build_model(spec.info(), "tiny", "cpu", "float32")
        result["params"] = sum(parameter.numel() for parameter in model.parameters())
        result["build_s"] = round(time.perf_counter() - started, 3)
        phase = "inputs"
        inputs = make_inputs(model, spec.info(), batch_size, seq_len, "cpu", "float32")
        phase = "forward"
        forward_started = time.perf_counter()
        with torch.inference_mode():
            output = model(**inputs)
        result["forward_s"] = round(time.perf_counter() - forward_started, 3)
        phase = "check"
        tensor = first_tensor(output)
        if tensor is not None and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise NonFiniteOutput("model output holds NaN or inf")
        result.update(status=OK, reason_code=None, reason=None)
    except Exception as error:  # every failure is data for the report
        message = " ".join(f"{type(error).__name__}: {error}".split())
        result.update(reason_code=reason_code(error), reason=f"{phase}: {message[:300]}")
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _child(connection, model_type: str, batch_size: int, seq_len: int) -> None:
    os.setsid()  # own process group: killing a hung child kills what it started too
    connection.send(check_one(model_type, batch_size, seq_len))
    connection.close()


def _preload(entries) -> None:
    """Import every model module once in the parent so that forked children share them."""
    import torch  # noqa: F401
    import transformers

    for entry in entries:
        try:
            getattr(transformers, entry.model_class)
        except Exception:  # the child meets and classifies the same error
            pass


class Sweep:
    """At most `jobs` forked children at a time, each killed at its deadline."""

    def __init__(self, jobs: int, timeout_s: float, batch_size: int, seq_len: int):
        self.context = multiprocessing.get_context("fork")
        self.jobs, self.timeout_s = jobs, timeout_s
        self.batch_size, self.seq_len = batch_size, seq_len
        self.running: dict = {}  # sentinel -> (process, connection, model_type, deadline)

    def run(self, model_types: list[str], on_result) -> None:
        pending = collections.deque(model_types)
        while pending or self.running:
            while pending and len(self.running) < self.jobs:
                self._start(pending.popleft())
            ready = wait(list(self.running), timeout=self._seconds_to_next_deadline())
            for sentinel in ready:
                on_result(self._finish(sentinel))
            for sentinel in self._overdue():
                on_result(self._kill(sentinel))

    def _start(self, model_type: str) -> None:
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_child, args=(sender, model_type, self.batch_size, self.seq_len), daemon=True)
        process.start()
        sender.close()
        self.running[process.sentinel] = (process, receiver, model_type, time.monotonic() + self.timeout_s)

    def _seconds_to_next_deadline(self) -> float:
        return max(0.0, min(deadline for *_, deadline in self.running.values()) - time.monotonic())

    def _overdue(self) -> list:
        now = time.monotonic()
        return [sentinel for sentinel, (*_, deadline) in self.running.items() if deadline <= now]

    def _finish(self, sentinel) -> dict:
        process, receiver, model_type, _ = self.running.pop(sentinel)
        result = receiver.recv() if receiver.poll() else None
        process.join()
        receiver.close()
        if result is None:  # died without a word: segfault, abort, killed for memory
            result = {"model_type": model_type, "status": "failed", "reason_code": "crash", "reason": f"child exited with code {process.exitcode}"}
        return result

    def _kill(self, sentinel) -> dict:
        process, receiver, model_type, _ = self.running.pop(sentinel)
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        process.join()
        receiver.close()
        return {"model_type": model_type, "status": "failed", "reason_code": "timeout", "reason": f"no result within {self.timeout_s:.0f} s"}


def summarize(results: list[dict], families: dict[str, str]) -> dict:
    by_family: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for result in results:
        family = families.get(result["model_type"], "other")
        by_family[family]["total"] += 1
        by_family[family][result["reason_code"] or OK] += 1
    ok = sum(counts[OK] for counts in by_family.values())
    missing = sum(counts["missing_dependency"] for counts in by_family.values())
    return {"total": len(results), "ok": ok, "missing_dependency": missing, "by_family": {name: dict(counts) for name, counts in sorted(by_family.items())}}


def print_report(results: list[dict], families: dict[str, str], wall_s: float) -> None:
    summary = summarize(results, families)
    codes = sorted({code for counts in summary["by_family"].values() for code in counts} - {"total", OK})
    print(f"\n{'family':<16}{'ok':>5}{'total':>7}  " + "  ".join(codes))
    for family, counts in summary["by_family"].items():
        print(f"{family:<16}{counts.get(OK, 0):>5}{counts['total']:>7}  " + "  ".join(f"{counts.get(code, 0):>{len(code)}}" for code in codes))
    total, ok = summary["total"], summary["ok"]
    print(f"{'all':<16}{ok:>5}{total:>7}  ({100 * ok / max(total, 1):.1f}% ok)")
    failures = sorted((r for r in results if r["status"] != OK), key=lambda r: (r["reason_code"], r["model_type"]))
    if failures:
        print(f"\nfailures ({len(failures)}):")
        for result in failures:
            print(f"  {result['model_type']:<32} {families.get(result['model_type'], '?'):<15} {result['reason_code']:<19} {result['reason']}")
    print(f"\nmissing optional dependency only: {summary['missing_dependency']} (kept in the denominator)")
    slow = sorted((r for r in results if r.get("seconds")), key=lambda r: -r["seconds"])[:5]
    print("slowest: " + ", ".join(f"{r['model_type']} {r['seconds']:.1f}s" for r in slow))
    big = sorted((r for r in results if r.get("params")), key=lambda r: -r["params"])[:5]
    print("largest tiny: " + ", ".join(f"{r['model_type']} {r['params'] / 1e6:.1f}M" for r in big))
    print(f"wall time: {wall_s:.1f} s for {total} types")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated model types (default: every type with a model class)")
    parser.add_argument("--limit", type=int, help="only the first N types (tier order)")
    parser.add_argument("--jobs", type=int, default=2, help="children at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per type before it counts as a hang")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--json", help="write every result and the summary here")
    parser.add_argument("--quiet", action="store_true", help="no line per type while running")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from mlperf_pipeline.catalog.catalog import build_catalog, select

    entries = select(build_catalog(), models=args.models.split(",") if args.models else None)
    entries = entries[: args.limit] if args.limit else entries
    families = {entry.model_type: entry.family for entry in entries}
    _preload(entries)
    print(f"{len(entries)} types, catalogue and preload {time.perf_counter() - started:.1f} s", flush=True)
    results: list[dict] = []

    def on_result(result: dict) -> None:
        results.append(result)
        if not args.quiet:
            print(f"[{len(results)}/{len(entries)}] {result['model_type']}: {result['reason_code'] or OK} {result.get('reason') or ''}"[:240], flush=True)

    Sweep(max(1, args.jobs), args.timeout, args.batch_size, args.seq_len).run([entry.model_type for entry in entries], on_result)
    wall_s = time.perf_counter() - started
    print_report(results, families, wall_s)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summarize(results, families), "wall_s": wall_s, "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
