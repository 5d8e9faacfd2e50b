"""The overview: what ran, where, on which environment, how much of it is valid, and why the rest is not."""

from __future__ import annotations

import pandas as pd

from mlperf_pipeline.reasons import Status
from mlperf_pipeline.report.blocks import Bullets, Plot, Section, Text, table
from mlperf_pipeline.report.frame import (
    distinct_text,
    fmt_text,
    hardware_counts,
    is_missing,
    model_types,
    status_counts,
)
from mlperf_pipeline.report.plots import status_plot

FINGERPRINT_LIMIT = 80
EXAMPLES = 6  # model types named per reason


def _joined(pairs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{name}: {count}" for name, count in pairs)


def _period(frame: pd.DataFrame) -> str:
    times = pd.to_datetime(frame["measured_at"], errors="coerce").dropna()
    if times.empty:
        return "unknown"
    return f"{times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M}"


def _facts(frame: pd.DataFrame, coverage: tuple[dict, ...]) -> list[str]:
    ok = int((frame["status"] == Status.OK).sum())
    facts = [
        f"{len(frame)} results for {len(model_types(frame))} model types, measured {_period(frame)}",
        f"valid (ok): {ok} of {len(frame)} ({100 * ok / len(frame):.1f}%); by status: {_joined(status_counts(frame))}",
        f"by hardware: {_joined(hardware_counts(frame))}",
        f"sizes: {', '.join(distinct_text(frame, 'size'))}; dtypes: {', '.join(distinct_text(frame, 'dtype'))}",
    ]
    if coverage:
        built = sum(row["status"] == Status.OK for row in coverage)
        facts.append(f"skillsets: {built} of {len(coverage)} model types build and run at tiny size")
    return facts


def _reasons(frame: pd.DataFrame) -> list[list[str]]:
    """One row per (status, reason code) of the rows that are not ok, most common first."""
    rows = frame[frame["status"] != Status.OK]
    codes = rows["reason_code"].map(lambda code: "" if is_missing(code) else str(code))
    table_rows = []
    for (status, code), group in rows.groupby([rows["status"], codes], sort=False):
        types = sorted(set(group["model_type"]))
        named = ", ".join(types[:EXAMPLES]) + (f" and {len(types) - EXAMPLES} more" if len(types) > EXAMPLES else "")
        table_rows.append([status, code or "—", str(len(group)), named])
    return sorted(table_rows, key=lambda row: -int(row[2]))


def _environments(frame: pd.DataFrame) -> list[list[str]]:
    rows = frame.assign(env=frame["env_fingerprint"].map(lambda text: fmt_text(text, FINGERPRINT_LIMIT) or "unknown"))
    grouped = rows.groupby(["hardware", "device_name", "env"], sort=True).size()
    return [[hardware, device, env, str(count)] for (hardware, device, env), count in grouped.items()]


def build(data) -> Section | None:
    frame = data.results
    if frame.empty:
        return Section("overview", "Overview", (Text("No results yet: nothing has been benchmarked.", "empty"),))
    blocks = [Bullets(tuple(_facts(frame, data.coverage)))]
    reasons = _reasons(frame)
    if reasons:
        blocks += [
            Text("Why rows are not ok (the reason codes of `reasons.py`):"),
            table(("status", "reason code", "rows", "model types"), reasons, numeric=(2,)),
        ]
    blocks += [
        Text("Environments: each fingerprint stands for one set of library versions, device and CPU."),
        table(("hardware", "device", "environment fingerprint", "rows"), _environments(frame), numeric=(3,)),
    ]
    png = status_plot(frame)
    if png is not None:
        blocks.append(Plot("status", "Results by status per family", png))
    return Section("overview", "Overview", tuple(blocks))
