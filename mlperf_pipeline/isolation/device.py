"""One benchmark per device at a time, across processes and concurrent runs on one host.

An OS file lock per device, `<lock_dir>/<hardware>.lock` (`locks.file_lock`): freed by the kernel
when its holder dies, so a killed run never leaves a device locked. On one host all CPU-heavy
steps (benchmarks, skillset checks) take the cpu lock, so that nothing runs beside a measurement.
A cluster launcher would take the same lock on the node that owns the device.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlperf_pipeline.isolation.locks import file_lock

log = logging.getLogger(__name__)


@contextmanager
def device_lock(lock_dir: Path | None, hardware: str) -> Iterator[Path | None]:
    """Exclusive per-device lock; blocks in the kernel (no spinning) until the device is free.

    `lock_dir=None` means the caller already holds it (flock would block on a second descriptor).
    """
    if lock_dir is None:
        yield None
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{hardware}.lock"
    started = time.monotonic()
    with file_lock(path):
        waited = time.monotonic() - started
        if waited > 1:
            log.info("waited %.1f s for the %s device lock", waited, hardware)
        yield path
