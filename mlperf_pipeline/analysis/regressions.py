"""Regression findings for every stored series: histories from `benchmark_results` rows, the
detectors of `analysis/steps.py`, and rows in the shape of the `regressions` table.

Every series stored counts, whether or not its model type is still catalogued. A series' history is
its measured runs (`ok` and `invalid` rows with a latency) under its latest bench version, oldest
first: a method change starts a new baseline. An environment or skillset change does not: it is
the likeliest cause of a real regression, so a finding names it as the suspect when the changed
run's fingerprint or skillset differs from its baseline's.

A change point has at least `steps.MIN_SEGMENT_RUNS` runs after it, so it is `confirmed` by its own
repeats; a latest-run finding is `pending` until a later run decides it (`confirmed` or `refuted`,
`steps.confirm`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from mlperf_pipeline.analysis.noise import METRIC, history_of, series_runs
from mlperf_pipeline.analysis.steps import MIN_SEGMENT_RUNS, Finding, History, confirm, detect
from mlperf_pipeline.store.schema import SERIES_KEY

# A slowdown of at least this much is `major`, a smaller one `minor`; a speed-up is `improvement`.
MAJOR_CHANGE_PCT = 10.0


def severity(change_pct: float) -> str:
    if change_pct < 0:
        return "improvement"
    return "major" if change_pct >= MAJOR_CHANGE_PCT else "minor"


@dataclass(frozen=True)
class KnownVersions:
    """What the store knows about fingerprints and skillset hashes (`environments`,
    `skillset_checks`), so that a suspect names what changed rather than two hashes."""

    environments: Mapping[str, dict] = field(default_factory=dict)
    overridden: Mapping[str, bool] = field(default_factory=dict)

    def environment_change(self, before: str, after: str) -> str:
        old, new = self.environments.get(before), self.environments.get(after)
        changes = _differences(_flat(old), _flat(new)) if old is not None and new is not None else []
        return "environment: " + (", ".join(changes) if changes else f"{before} -> {after}")

    def skillset_change(self, before: str, after: str) -> str:
        was, now = bool(self.overridden.get(before)), bool(self.overridden.get(after))
        why = {
            (False, True): " (a new override)",
            (True, False): " (override removed)",
            (True, True): " (override changed)",
        }
        return f"skillset: {before} -> {after}{why.get((was, now), '')}"


def _flat(environment: dict, prefix: str = "") -> dict[str, str]:
    """An environment as `name -> value` (packages by their own names: `torch`, not `packages.torch`)."""
    flat = {}
    for name, value in environment.items():
        if isinstance(value, dict):
            flat.update(_flat(value, "" if name == "packages" else f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return flat


def _differences(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return [
        f"{name} {old.get(name)} -> {new.get(name)}" for name in sorted(old | new) if old.get(name) != new.get(name)
    ]


def suspect(runs: pd.DataFrame, finding: Finding, known: KnownVersions = KnownVersions()) -> str | None:
    """What changed between the baseline runs and the first changed run: the environment (by the
    versions that differ, where the fingerprints are known) and the skillset (and whether an
    override came or went); None when neither did."""
    baseline = runs.iloc[finding.baseline_from : finding.baseline_to + 1]
    changed = runs.iloc[finding.index]
    parts = []
    for column, describe in (("env_fingerprint", known.environment_change), ("skillset_hash", known.skillset_change)):
        before = baseline[column].mode()
        if not before.empty and before.iloc[0] != changed[column]:
            parts.append(describe(before.iloc[0], changed[column]))
    return "; ".join(parts) or None


def finding_row(
    key: dict, runs: pd.DataFrame, finding: Finding, state: str, detected_at: datetime, known: KnownVersions
) -> dict:
    """One `regressions` row: the series key, the evidence and the state of one finding."""
    return {
        **key,
        "metric": METRIC,
        "baseline_value": finding.baseline_value,
        "current_value": finding.current_value,
        "change_pct": finding.change_pct,
        "effect": finding.effect,
        "p_value": finding.p_value,
        "method": finding.method,
        "baseline_from": runs["measured_at"].iloc[finding.baseline_from],
        "baseline_to": runs["measured_at"].iloc[finding.baseline_to],
        "severity": severity(finding.change_pct),
        "state": state,
        "confirmed": state == "confirmed",
        "noise_sigma_pct": finding.sigma_pct,
        "suspect": suspect(runs, finding, known),
        "detected_at": detected_at,
        "run_id": runs["run_id"].iloc[finding.index],
    }


def _latest_run_state(history: History, finding: Finding, sigma: float, stored_state: str | None) -> str:
    """`pending` while the flagged run is the latest, else what the runs after it say. A finding
    stored `confirmed` stays so: runs back at the old level later are a fix (an improvement), not
    a refutation."""
    if stored_state == "confirmed":
        return "confirmed"
    if finding.index >= history.levels_ms.size - 1:
        return "pending"
    return "confirmed" if confirm(history, finding, sigma) else "refuted"


def findings_for_series(
    key: dict,
    runs: pd.DataFrame,
    detected_at: datetime,
    open_findings: Mapping[str, str] | None = None,
    known: KnownVersions = KnownVersions(),
) -> tuple[list[dict], str | None]:
    """The rows for one series, and why it has no verdict (`insufficient_history`) if so.

    Latest-run findings are looked for in the whole history and in every prefix that ends at a run
    of `open_findings` (run id -> stored state of a `pending` or `confirmed` latest-run finding:
    a pending one's fate the runs after it now decide; a confirmed one is found again so that it
    stands until a change point takes its place). A latest-run finding within
    `steps.MIN_SEGMENT_RUNS - 1` runs of a change point is that change point, and is left out."""
    history = history_of(runs)
    verdict = detect(history)
    if verdict.reason_code is not None:
        return [], verdict.reason_code
    steps = [finding for finding in verdict.findings if finding.method == "change_point"]
    rows = [finding_row(key, runs, finding, "confirmed", detected_at, known) for finding in steps]
    opened = open_findings or {}
    ends = sorted({len(runs) - 1, *(int(i) for i in runs.index[runs["run_id"].isin(list(opened))])})
    standing = False  # a pending or confirmed latest-run finding: later runs continue that change
    for end in ends:
        prefix_verdict = verdict if end == len(runs) - 1 else detect(history.prefix(end + 1))
        for finding in prefix_verdict.findings:
            if finding.method != "latest_run" or standing or _near_a_step(finding, steps):
                continue
            stored = opened.get(runs["run_id"].iloc[finding.index])
            state = _latest_run_state(history, finding, prefix_verdict.sigma, stored)
            rows.append(finding_row(key, runs, finding, state, detected_at, known))
            standing = state != "refuted"
    return rows, None


def _near_a_step(finding: Finding, steps: list[Finding]) -> bool:
    return any(abs(step.index - finding.index) < MIN_SEGMENT_RUNS for step in steps)


def regression_findings(
    results: pd.DataFrame,
    detected_at: datetime,
    open_findings: Mapping[tuple, Mapping[str, str]] | None = None,
    known: KnownVersions = KnownVersions(),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows for every series of `results` (`benchmark_results` rows), and counts: series judged,
    series without a verdict by reason, findings by state and severity."""
    rows: list[dict] = []
    counts = Counter(series=0, judged=0)
    for key, runs in series_runs(results):
        counts["series"] += 1
        opened = (open_findings or {}).get(key, {})
        found, reason = findings_for_series(dict(zip(SERIES_KEY, key)), runs, detected_at, opened, known)
        counts[reason or "judged"] += 1
        counts.update(label for row in found for label in (row["state"], row["severity"]))
        rows += found
    return pd.DataFrame(rows), dict(counts)


def standing_slowdowns(rows: pd.DataFrame) -> pd.DataFrame:
    """The confirmed slowdowns that still stand: per series, its latest confirmed finding, when that
    is a slowdown (a later improvement back, or a refuted flag, does not leave one standing)."""
    if rows.empty:
        return rows
    # Ties broken the same way in memory and from the store: by baseline end, then run id.
    confirmed = rows[rows["state"] == "confirmed"].sort_values(["baseline_to", "run_id"], kind="stable")
    latest = confirmed.groupby(list(SERIES_KEY), dropna=False, sort=True).tail(1)
    return latest[latest["change_pct"] > 0]
