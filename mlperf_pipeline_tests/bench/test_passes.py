"""Round-robin passes over a range: the order processes run in, early ends, host-episode re-measures."""

from mlperf_pipeline.bench.passes import EPISODE_SLOWDOWN_PCT, probe_of, round_robin
from mlperf_pipeline.bench.runner import ChildOutcome


def _outcome(probe_ms: float | None = 1.0, crashed: bool = False) -> ChildOutcome:
    if crashed:
        return ChildOutcome([], -11, "crash", "segmentation fault")
    return ChildOutcome([{"kind": "result", "host_probe_ms": probe_ms, "samples": [1.0]}], 0)


class Host:
    """Runs slices in a scripted way and records the order they were asked for."""

    def __init__(self, probes=None, crash=()):
        self.calls, self.probes, self.crash = [], probes or {}, set(crash)

    def __call__(self, key: str, index: int) -> ChildOutcome:
        self.calls.append((key, index))
        if (key, index) in self.crash:
            return _outcome(crashed=True)
        scripted = self.probes.get((key, index))
        probe = scripted.pop(0) if isinstance(scripted, list) else scripted
        return _outcome(1.0 if probe is None else probe)


def test_each_pass_runs_one_process_of_every_partition_and_partitions_finish_in_the_last():
    host = Host()
    finished = []
    for key, slices in round_robin(["a", "b", "c"], 3, host):
        finished.append((key, len(host.calls), len(slices.outcomes)))
    assert host.calls == [(key, index) for index in range(3) for key in "abc"]
    assert finished == [("a", 7, 3), ("b", 8, 3), ("c", 9, 3)]  # each as soon as its last process is done


def test_a_crashed_partition_is_done_at_once_and_the_others_go_on():
    host = Host(crash=[("a", 0)])
    finished = {key: slices for key, slices in round_robin(["a", "b"], 3, host)}
    assert len(finished["a"].outcomes) == 1 and not finished["a"].outcomes[0].completed
    assert [call for call in host.calls if call[0] == "a"] == [("a", 0)]
    assert len(finished["b"].outcomes) == 3


def test_a_process_taken_during_a_host_episode_is_measured_again_and_the_faster_kept():
    slow = 1.0 + (EPISODE_SLOWDOWN_PCT + 20) / 100
    host = Host(probes={("a", 1): [slow, 1.01]})
    ((key, slices),) = list(round_robin(["a"], 3, host))
    assert host.calls == [("a", 0), ("a", 1), ("a", 2), ("a", 1)]
    assert slices.remeasured == 1 and probe_of(slices.outcomes[1]) == 1.01
    assert slices.reference_probe_ms == 1.0


def test_a_host_still_slow_keeps_the_less_slow_process_and_counts_the_try():
    host = Host(probes={("a", 0): [1.6, 1.7], ("a", 1): 1.0, ("a", 2): 1.0})
    ((_, slices),) = list(round_robin(["a"], 3, host))
    assert slices.remeasured == 1 and probe_of(slices.outcomes[0]) == 1.6


def test_probe_of_takes_the_slowest_configuration_and_none_without_readings():
    outcome = ChildOutcome([{"kind": "result", "host_probe_ms": 1.0}, {"kind": "result", "host_probe_ms": 1.4}], 0)
    assert probe_of(outcome) == 1.4
    assert probe_of(ChildOutcome([{"kind": "started"}], 0)) is None


def test_a_partition_that_wants_more_gets_one_more_process_a_pass_until_it_settles():
    host = Host()
    wanted = {"a": 5, "b": 3, "c": 4}  # processes after which each partition's interval is within target
    finished = {}
    for key, slices in round_robin(
        ["a", "b", "c"], 3, host, max_processes=6, wants_more=lambda key, s: len(s.outcomes) < wanted[key]
    ):
        finished[key] = len(slices.outcomes)
    assert finished == wanted
    # passes 4 and 5 hold only the partitions still unsettled, in range order
    assert host.calls[9:] == [("a", 3), ("c", 3), ("a", 4)]


def test_added_processes_stop_at_max_processes_and_are_never_asked_for_before_the_minimum():
    host = Host()
    asked = []

    def always(key, slices):
        asked.append(len(slices.outcomes))
        return True

    ((_, slices),) = list(round_robin(["a"], 3, host, max_processes=5, wants_more=always))
    assert len(slices.outcomes) == 5 and asked == [3, 4]
    ((_, slices),) = list(round_robin(["a"], 3, Host(), wants_more=always))  # no cap given: the minimum
    assert len(slices.outcomes) == 3


def test_the_wall_time_counts_the_process_a_re_measure_replaced():
    slow = 1.0 + (EPISODE_SLOWDOWN_PCT + 20) / 100
    host = Host(probes={("a", 1): [slow, 1.01]})
    ((_, slices),) = list(round_robin(["a"], 3, host))
    for index, outcome in enumerate([*slices.outcomes, *slices.replaced]):
        outcome.wall_s = 1.0 + index
    assert len(slices.replaced) == 1 and slices.wall_s == 1.0 + 2.0 + 3.0 + 4.0
