"""Statuses and reason codes have one definition (`mlperf_pipeline.reasons`) that every writer uses."""

import signal

from mlperf_pipeline import reasons
from mlperf_pipeline.bench import runner, stop_rule
from mlperf_pipeline.report import frame, plots
from mlperf_pipeline.store import schema


def test_the_store_checks_against_the_one_list():
    assert schema.RESULT_STATUSES == reasons.STATUSES == ("ok", "invalid", "failed", "skipped")
    assert schema.REASON_CODES is reasons.REASON_CODES
    assert schema.REASON_CODES == {
        "missing_dependency",
        "unsupported_inputs",
        "invalid_config",
        "too_large",
        "library_error",
        "crash",
        "timeout",
        "out_of_memory",
        "non_finite_output",
        "too_noisy",
        "too_few_samples",
        "hardware_absent",
        "unsupported_dtype",
        "unsupported_hardware",
    }


def test_the_stop_rule_and_the_runner_give_only_known_codes():
    assert set(stop_rule.Verdict.__args__) <= set(reasons.Status)
    assert set(stop_rule.VerdictReason.__args__) <= set(reasons.ReasonCode)
    assert {code for code, _ in runner._EXIT_SIGNAL_REASONS.values()} <= reasons.REASON_CODES
    assert runner._classify_exit(-signal.SIGSEGV, "") == ("crash", "benchmark process segmentation fault (signal 11)")
    assert runner._classify_exit(1, "MemoryError")[0] == "out_of_memory"


def test_the_report_orders_and_colours_every_status():
    assert frame.STATUS_ORDER == reasons.STATUSES
    assert frame.NOT_MEASURED_STATUSES == ("invalid", "failed", "skipped")
    assert set(plots.STATUS_COLOURS) == set(reasons.STATUSES)
