"""Progress lines of long work: elapsed time and the time left at the pace so far."""

from mlperf_pipeline.progress import Progress, SliceProgress, ThrottledLog, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations_are_short_and_whole():
    assert [duration(s) for s in (0, 0.4, 42.6, 60, 185, 3720, -3)] == [
        "0s",
        "0s",
        "43s",
        "1m 00s",
        "3m 05s",
        "1h 02m",
        "0s",
    ]


def test_the_time_left_is_the_pace_so_far_times_the_units_left():
    clock = Clock()
    progress = Progress(10, clock)
    assert progress.status() == "0/10, 0s elapsed, estimating the time left"
    clock.now += 30
    assert progress.step(2) == "2/10, 30s elapsed, about 2m 00s left"
    clock.now += 90
    assert progress.step(4) == "6/10, 2m 00s elapsed, about 1m 20s left"
    clock.now += 5
    assert progress.step(4) == "10/10, 2m 05s elapsed, done"
    assert progress.remaining() == 0


def test_a_throttled_log_writes_at_most_every_interval_and_always_at_the_end():
    clock, lines = Clock(), []
    log = ThrottledLog(100, lines.append, "counted", every_s=15, clock=clock)
    for _ in range(99):
        clock.now += 1
        log.step()
    assert lines == [
        f"counted {n}/100, {duration(n)} elapsed, about {duration(100 - n)} left" for n in (15, 30, 45, 60, 75, 90)
    ]
    clock.now += 1
    log.step()
    assert lines[-1] == "counted 100/100, 1m 40s elapsed, done"


def test_a_slice_run_again_or_an_added_process_grows_the_total_so_the_count_never_passes_it():
    clock = Clock()
    pace = SliceProgress(units=2, processes=2, clock=clock)
    statuses = []
    for key, index in (("a", 0), ("b", 0), ("a", 1), ("a", 1), ("b", 1), ("b", 2)):
        clock.now += 10
        statuses.append(pace.start(key, index))
    assert [again for again, _ in statuses] == [False, False, False, True, False, False]
    # the re-run of a's process 2 and b's third process (beyond the plan of 2) each add one
    assert [status.split(",")[0] for _, status in statuses] == ["0/4", "1/4", "2/4", "3/5", "4/5", "5/6"]
    assert pace.progress.status().startswith("6/6") and pace.progress.status().endswith("done")
