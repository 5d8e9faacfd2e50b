"""Entry points and functions for the isolation tests' children: light imports, so children start fast."""

import os
import signal
import sys
import time


def main(argv: list[str], process_started: float | None = None) -> int:
    """A launcher entry point: sleep for argv[0] seconds, then exit with code argv[1] (default 0)."""
    time.sleep(float(argv[0]))
    return int(argv[1]) if len(argv) > 1 else 0


def parent_pid(_item) -> dict:
    return {"ppid": os.getppid(), "pid": os.getpid()}


def kill_the_server(_item) -> dict:
    """What the kernel's OOM killer might do to the fork server while a call runs."""
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(60)
    return {}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
