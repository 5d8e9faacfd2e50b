"""Turn-taking between two measuring processes: strict alternation, a clean stop, and a real
benchmark child that takes part without its timing being changed."""

import os
import threading
import time
from pathlib import Path

import pytest

from mlperf_pipeline.bench.request import BenchRequest
from mlperf_pipeline.bench.runner import run_isolated
from mlperf_pipeline.bench.turns import DONE, TURNS_ENV, TurnGate, gated, paired_turn_ratios


def _fifos(tmp_path: Path) -> tuple[str, str]:
    first, second = tmp_path / "first.fifo", tmp_path / "second.fifo"
    os.mkfifo(first)
    os.mkfifo(second)
    return str(first), str(second)


def _peer(gate: TurnGate, log: list, name: str, calls_per_turn: int) -> None:
    """Takes turns until told the comparison is over, logging which turn each call ran in."""
    while gate.before_call():
        log.append((name, gate.turns))
        time.sleep(gate.slice_s / calls_per_turn)


def _tell_done(fifo: str) -> None:
    done = os.open(fifo, os.O_RDWR)
    os.write(done, DONE)
    os.close(done)


def test_two_processes_alternate_and_never_run_at_once(tmp_path):
    first_fifo, second_fifo = _fifos(tmp_path)
    ours, theirs = TurnGate(first_fifo, second_fifo, 0.05), TurnGate(second_fifo, first_fifo, 0.05)
    log: list = []
    peer = threading.Thread(target=_peer, args=(theirs, log, "theirs", 3))
    peer.start()
    theirs.hand_over()  # the peer lets us start, as the reference process does once built
    while ours.turns < 4:
        ours.before_call()
        log.append(("ours", ours.turns))
        time.sleep(0.01)
    _tell_done(second_fifo)  # we hold the token, so the peer is waiting for it
    peer.join(timeout=10)
    assert not peer.is_alive(), "the peer did not stop when told the comparison was over"
    runs = [(name, turn) for index, (name, turn) in enumerate(log) if index == 0 or log[index - 1] != (name, turn)]
    assert runs == [("ours", 1), ("theirs", 1), ("ours", 2), ("theirs", 2), ("ours", 3), ("theirs", 3), ("ours", 4)]


def test_gated_call_rewarms_after_each_hand_over_and_records_turns(tmp_path):
    first_fifo, second_fifo = _fifos(tmp_path)
    gate, peer_gate = TurnGate(first_fifo, second_fifo, 0.03), TurnGate(second_fifo, first_fifo, 0.03)
    calls: list[str] = []
    timed = gated(lambda: calls.append("timed") or 1.0, gate, rewarm=lambda: calls.append("rewarm"))
    peer = threading.Thread(target=_peer, args=(peer_gate, [], "peer", 2))
    peer.start()
    peer_gate.hand_over()
    for _ in range(12):
        timed()
        time.sleep(0.01)
    _tell_done(second_fifo)
    peer.join(timeout=10)
    assert calls.count("timed") == 12
    assert calls.count("rewarm") == gate.turns >= 2
    assert calls[0] == "rewarm"  # the first call after each hand-over is untimed
    assert gate.call_turns == sorted(gate.call_turns) and set(gate.call_turns) == set(range(1, gate.turns + 1))


def test_paired_ratios_cancel_a_linear_drift():
    # Latency rises 10 ms a turn for both; ours is truly 5% slower. Our turn k sits between the
    # peer's turns k-1 and k, so the ratio comes out near 1.05 however far the drift has gone.
    def at(turn: float) -> float:
        return 100.0 + 10.0 * turn

    sample_turns = [turn for turn in (2, 3, 4) for _ in range(3)]
    samples = [1.05 * at(turn - 0.5) for turn in sample_turns]
    peer = [[turn, [at(turn), at(turn), at(turn)]] for turn in (1, 2, 3, 4)]
    ratios = paired_turn_ratios(sample_turns, samples, peer)
    assert len(ratios) == 3
    assert all(abs(ratio - 1.05) < 0.002 for ratio in ratios)
    # Against the next peer turn alone, the drift would show as a bias.
    assert samples[0] / at(2) < 1.01


def test_paired_ratios_leave_out_turns_without_both_neighbours():
    assert paired_turn_ratios([1, 1, 2, 5], [1.0, 1.0, 2.0, 5.0], [[1, [1.0]], [2, [2.0]], [3, []]]) == [
        pytest.approx(2.0 / 2**0.5)
    ]


def test_without_a_gate_the_call_is_unchanged():
    def call():
        return 3.0

    assert gated(call, None, rewarm=lambda: pytest.fail("no rewarm without a gate")) is call


@pytest.mark.parametrize("value", ["missing", "/no/such/a:/no/such/b:1.0", "a:b:-1"])
def test_a_malformed_turns_variable_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=TURNS_ENV):
        TurnGate.from_environment({TURNS_ENV: value})


def test_no_turns_variable_means_no_gate():
    assert TurnGate.from_environment({}) is None


@pytest.mark.slow
def test_a_benchmark_child_takes_turns_with_a_peer(bert_record, tmp_path, monkeypatch):
    ours_fifo, peer_fifo = _fifos(tmp_path)
    peer_gate, log = TurnGate(peer_fifo, ours_fifo, 0.02), []
    peer = threading.Thread(target=_peer, args=(peer_gate, log, "peer", 4))
    peer.start()
    monkeypatch.setenv(TURNS_ENV, f"{ours_fifo}:{peer_fifo}:0.02")
    peer_gate.hand_over()
    request = BenchRequest(
        skillset_path=bert_record.path,
        model_type="bert",
        hardware="cpu",
        seq_lens=[16],
        max_seconds_per_config=2.0,
        target_ci_pct=0.5,
    )  # a tight target: sampling spans several turns
    outcome = run_isolated(request, lock_dir=tmp_path, omp_wait_policy="PASSIVE")
    _tell_done(peer_fifo)
    peer.join(timeout=10)
    assert outcome.completed, outcome.log_tail
    result = next(record for record in outcome.records if record["kind"] == "result")
    turns = result["sample_turns"]
    assert len(turns) == result["n_samples"] == len(result["samples"])
    assert turns == sorted(turns) and len(set(turns)) >= 2  # sampling spanned several of its turns
    assert peer_gate.turns >= len(set(turns))  # the peer ran between them
