"""Functions for isolated-process tests: importable without Dagster, so a child imports them fast."""

import os
import signal
import time


def misbehave(how: str) -> dict:
    if how == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "hang":
        time.sleep(60)
    if how == "raise":
        raise ValueError("boom")
    return {"status": "ok", "how": how}
