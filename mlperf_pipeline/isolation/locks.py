"""One file lock for every cross-process exclusion: the device lock, the check store, the results database.

`flock` rather than a lock file that exists or not: the lock belongs to the open file, so the
kernel drops it when the holder dies, however it dies (SIGKILL included). Nothing stale is left
to clean up, and a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: str | os.PathLike, blocking: bool = True) -> Iterator[int]:
    """Hold an exclusive flock on `path` (created if missing); yields the open descriptor.

    Blocking waits in the kernel (no spinning) until the holder lets go or dies. Non-blocking
    raises `BlockingIOError` at once when another holder has it, for callers that retry with their
    own deadline. The descriptor is open read-write, so a holder may note who it is in the file.
    Two opens of one file conflict even within a process: the lock is per open file, not per process.
    """
    fd = os.open(Path(path), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield fd
        finally:
            # Unlock explicitly: a copy of the descriptor inherited by a child would keep it otherwise.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
