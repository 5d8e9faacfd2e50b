"""The bounds every isolated child runs under, set in one place, and how to take a child down.

`bound_this_process` runs inside the child, before any model code: as a `preexec_fn` of
`subprocess.Popen` (between fork and exec) or first thing in a child forked from a fork server.

- Its own session, hence its own process group: killing the group also kills whatever the child
  started (compile workers, a tokenizer's helpers), and a timeout leaves nothing behind.
- A parent-death signal: when the parent dies (a Dagster run terminated from the UI, a SIGKILLed
  step), the kernel SIGKILLs the child too; a chain of them (step -> fork server -> child) stops it all.
- An address-space cap (RLIMIT_AS): an allocation past it fails inside the child, which reports
  `out_of_memory`, instead of the kernel's OOM killer picking a victim on the whole host.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux; kept across exec)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def bound_this_process(memory_cap_bytes: int | None = None) -> None:
    """New session and process group, parent-death SIGKILL, and an address-space cap if given."""
    os.setsid()
    die_with_parent()
    if memory_cap_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid` (a bounded child leads its own); gone already is fine."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
