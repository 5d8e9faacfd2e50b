"""Statuses and reason codes have one definition (`mlperf_pipeline.reasons`) that every writer uses."""

import signal
import types

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
        "unstable_between_runs",
        "hardware_absent",
        "unsupported_dtype",
        "unsupported_hardware",
        "too_slow",
    }


def _verdict_of(samples: list[float]) -> tuple[str, str | None]:
    status, code, _ = stop_rule._verdict(samples, elapsed_s=1.0, rule=stop_rule.StopRule(target_ci_pct=5.0))
    return status, code


def test_the_stop_rule_gives_exactly_its_verdicts():
    verdicts = {
        "steady": _verdict_of([10.0] * 50),
        "too few for an interval": _verdict_of([10.0, 10.0]),
        "scattered": _verdict_of([1.0, 100.0] * 25),
    }
    assert verdicts == {
        "steady": ("ok", None),
        "too few for an interval": ("invalid", "too_few_samples"),
        "scattered": ("invalid", "too_noisy"),
    }
    assert set(stop_rule.Verdict.__args__) == {"ok", "invalid"}
    assert set(stop_rule.VerdictReason.__args__) == {"too_few_samples", "too_noisy"}


def test_the_runner_gives_exactly_its_exit_codes():
    by_signal = {signal.Signals(number).name: code for number, (code, _) in runner._EXIT_SIGNAL_REASONS.items()}
    assert by_signal == {
        "SIGSEGV": "crash",
        "SIGBUS": "crash",
        "SIGABRT": "crash",
        "SIGILL": "crash",
        "SIGFPE": "crash",
        "SIGKILL": "out_of_memory",
    }
    exits = {
        "unknown signal": (-signal.SIGUSR1, ""),
        "MemoryError": (1, "Traceback ...\nMemoryError"),
        "torch": (1, "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        "C++": (134, "terminate called after throwing an instance of 'std::bad_alloc'"),
        "plain": (1, "ValueError: bad"),
    }
    codes = {name: runner._classify_exit(*exit)[0] for name, exit in exits.items()}
    assert codes == {
        "unknown signal": "crash",
        "MemoryError": "out_of_memory",
        "torch": "out_of_memory",
        "C++": "out_of_memory",
        "plain": "crash",
    }
    assert runner._classify_exit(-signal.SIGSEGV, "") == ("crash", "benchmark process segmentation fault (signal 11)")
    finished = [{"kind": "finished"}]
    assert runner._outcome(finished, 0, False, 300.0, 1.0, "", {}).reason_code is None
    assert runner._outcome(finished, -signal.SIGKILL, True, 300.0, 1.0, "", {}).reason_code == "timeout"
    assert runner._outcome([], 0, False, 300.0, 1.0, "", {}).reason_code == "crash"  # exited without finishing


def _fail(error: BaseException):
    raise error


def _raised_in(filename: str, error: BaseException) -> BaseException:
    """`error` raised by a function whose code lives in `filename` (its innermost frame)."""
    fail = types.FunctionType(_fail.__code__.replace(co_filename=filename), {})
    try:
        fail(error)
    except BaseException as raised:  # noqa: BLE001 - the exception is the test's data
        return raised
    raise AssertionError("unreachable")


def test_the_skillset_runtime_gives_exactly_its_codes():
    from mlperf_pipeline.bench.child import classify_error
    from mlperf_pipeline.skillsets.runtime import NonFiniteOutput, UnsupportedInputs, reason_code

    errors = {
        "no input builder": UnsupportedInputs("needs 'states'"),
        "NaN out": NonFiniteOutput("NaN"),
        "import": ImportError("No module named 'timm'"),
        "requires": ValueError("TvpModel requires the torchvision library"),
        "MemoryError": MemoryError(),
        "torch memory": RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        "config refuses": _raised_in("/site-packages/transformers/configuration_utils.py", ValueError("bad")),
        "model code": _raised_in("/site-packages/transformers/modeling_bert.py", ValueError("bad")),
        "anything else": RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
    }
    codes = {name: reason_code(error) for name, error in errors.items()}
    assert codes == {
        "no input builder": "unsupported_inputs",
        "NaN out": "non_finite_output",
        "import": "missing_dependency",
        "requires": "missing_dependency",
        "MemoryError": "too_large",
        "torch memory": "too_large",
        "config refuses": "invalid_config",
        "model code": "library_error",
        "anything else": "library_error",
    }
    # The bench child: the same, except that memory runs out against the process's cap.
    in_child = {name: classify_error(error) for name, error in errors.items()}
    assert in_child == {**codes, "MemoryError": "out_of_memory", "torch memory": "out_of_memory"}
    assert {type(code) for code in in_child.values()} == {str}  # plain strings: they reach Dagster metadata


def test_the_report_orders_and_colours_every_status():
    assert frame.STATUS_ORDER == ("ok", "invalid", "failed", "skipped")
    assert plots.STATUS_COLOURS.keys() == {"ok", "invalid", "failed", "skipped"}
