"""A fork server: heavy imports paid once, a fresh forked child per call; and a pool of servers.

Importing torch and transformers costs ~2 s a process, and a model's own modules another
1.5–3 s. A server imports the modules it is given (imports only: any computation before a fork,
even one matmul, can deadlock the child in the OpenMP runtime), then forks one child per call in
~30 ms. A child is as fresh as a new interpreter for measuring purposes: no model was ever built
in the server. The server is never the caller (a Dagster step holds threads and locks): it is a
new interpreter started by the caller. multiprocessing's own fork server cannot serve here: in each
child it re-runs the caller's main script first, and under the `dagster` CLI that imports all of
Dagster again, ~2 s a call.

Protocol (JSON lines over the server's stdin and stdout): the client first sends
{"preload", "sys_path"}, the server answers {"ready", "preload_s"}. Then for each call the client
sends {"entry", "args", "log", "env", "memory_cap"}; the server forks a child that runs
`entry.main(args, process_started=...)`, answers {"pid"}, and, whenever a child exits,
{"pid", "exit_code"} (negative: killed by that signal, as in `subprocess`). Several children may
run at once; the client does the timing and the killing.

    python -m mlperf_pipeline.isolation.forkserver
"""

from __future__ import annotations

import collections
import functools
import importlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from mlperf_pipeline.isolation.limits import bound_this_process, kill_group

STARTUP_TIMEOUT_S = 180.0
ANSWER_TIMEOUT_S = 30.0
# How long a server whose pipe closed may take to become waitable (it is exiting already).
EXIT_GRACE_S = 5.0
DEFAULT_SLOTS = 3


class ForkServerError(RuntimeError):
    """The server cannot start, start a child, or account for one; `exit_code` is the server's, if it ended."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code


class _Lines:
    """JSON lines from a pipe, read from the descriptor itself: a buffered file object may hold a
    second line that select() then never reports, leaving its reader asleep with the answer in hand."""

    def __init__(self, fd: int):
        self.fd, self.partial, self.lines, self.closed = fd, b"", collections.deque(), False

    def wait(self, timeout_s: float | None) -> bool:
        """Sleep in select() until a line is ready or the pipe closed; False at the timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.lines and not self.closed:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if select.select([self.fd], [], [], remaining)[0]:
                self.fill()
            elif deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def fill(self) -> None:
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.closed = True
            return
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        self.lines.extend(complete)

    def pop(self) -> dict | None:
        """The next line, parsed; None once the pipe is closed and drained."""
        if not self.lines:
            return None
        line = self.lines.popleft()
        try:
            return json.loads(line)
        except ValueError:
            raise ForkServerError(f"fork server wrote something other than its protocol: {line[:200]!r}") from None


def _send(fd: int, message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def preload(modules: Iterable[str]) -> None:
    """Import each module; `module:attribute` also looks the attribute up (transformers' lazy model classes).

    Only imports: computing before a fork can deadlock the child in OpenMP. A failure is printed and
    skipped: the call that needs the module meets and classifies the same error.
    """
    for name in modules:
        module, _, attribute = name.partition(":")
        try:
            imported = importlib.import_module(module)
            if attribute:
                getattr(imported, attribute)
        except Exception as error:
            print(f"preload of {name} failed: {type(error).__name__}: {error}", file=sys.stderr)


def serve() -> None:
    """The server's main loop; it ends when the client closes its stdin."""
    protocol = os.dup(1)
    os.dup2(2, 1)  # whatever a preloaded module prints goes to stderr, never into the protocol
    requests = _Lines(0)
    requests.wait(None)
    config = requests.pop()
    if config is None:
        return
    sys.path[:0] = [entry for entry in config["sys_path"] if entry not in sys.path]
    started = time.perf_counter()
    preload(config["preload"])
    # Children are reaped as they exit: SIGCHLD wakes the select() below through this pipe.
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake[1])
    _send(protocol, {"ready": True, "preload_s": time.perf_counter() - started})
    running: set[int] = set()
    while not requests.closed:
        readable = select.select([0, wake[0]], [], [])[0]
        if wake[0] in readable:
            try:
                while os.read(wake[0], 4096):
                    pass
            except BlockingIOError:
                pass
            _reap(running, protocol)
        if 0 in readable:
            requests.fill()
            while (request := requests.pop()) is not None:
                _fork(request, running, protocol, wake)


def _reap(running: set[int], protocol: int) -> None:
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        if pid in running:
            running.discard(pid)
            _send(protocol, {"pid": pid, "exit_code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict, running: set[int], protocol: int, wake: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as error:
        _send(protocol, {"error": f"fork failed: {error}"})
        return
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (protocol, *wake):
            os.close(fd)
        _run_child(request)
    running.add(pid)
    _send(protocol, {"pid": pid})


def _run_child(request: dict) -> None:
    """In the forked child: become a fresh, bounded process, run the entry point, never return."""
    code = 1
    try:
        started = time.perf_counter()
        bound_this_process(request.get("memory_cap"))
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the server's request pipe is not ours to read
        if request.get("log"):  # else stdout and stderr stay the server's stderr (the caller's)
            log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        code = importlib.import_module(request["entry"]).main(request["args"], process_started=started) or 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


class ForkServer:
    """Client side: a server process that preloaded `preload`, and the children it forked for us."""

    def __init__(
        self,
        preload: Iterable[str],
        env: dict[str, str],
        sys_path: Iterable[str] = (),
        startup_timeout_s: float | None = STARTUP_TIMEOUT_S,
        *,
        wait: bool = True,
    ):
        """`sys_path`: entries the server puts in front of its own (so that it finds the caller's modules).
        `startup_timeout_s=None`: no limit on the preload (every model module of transformers takes minutes).
        `wait=False`: return once the server is started; `wait_ready()` then waits for its preload,
        so that several servers preload at once. Start them from a thread that outlives them (not
        a worker thread): the parent-death signal fires when the starting thread ends."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            preexec_fn=functools.partial(bound_this_process, None),
        )
        self._answers = _Lines(self.process.stdout.fileno())
        self.running: set[int] = set()
        self.exits: dict[int, int] = {}
        self.startup_timeout_s = startup_timeout_s
        self.preload_s: float | None = None
        try:
            self._send({"preload": list(preload), "sys_path": list(sys_path)})
        except OSError:
            pass  # the server is gone already: wait_ready says so
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the server's preload; ForkServerError (server closed) if it did not start."""
        if self.preload_s is not None:
            return
        try:
            ready = self._next(self.startup_timeout_s)
        except (ForkServerError, OSError) as error:
            ready = {"error": str(error)}
        if not ready or not ready.get("ready"):
            self.close()
            raise ForkServerError(f"fork server did not start (got {ready!r})", self.process.returncode)
        self.preload_s = ready["preload_s"]

    def _send(self, message: dict) -> None:
        _send(self.process.stdin.fileno(), message)

    def _next(self, timeout_s: float | None) -> dict | None:
        """The next answer that is not an exit (exits are noted as they pass); None at the timeout or EOF."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._answers.wait(None if deadline is None else deadline - time.monotonic()):
            answer = self._answers.pop()
            if answer is None or "exit_code" not in answer:
                return answer
            self._note_exit(answer)
        return None

    def _note_exit(self, answer: dict) -> None:
        self.running.discard(answer["pid"])
        self.exits[answer["pid"]] = answer["exit_code"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _exit_code(self, answer: dict | None) -> int | None:
        """The server's exit code when it stopped answering. At EOF (`answer` None) it is dying: its
        pipe closes before the kernel makes it waitable, so wait a moment rather than poll once
        (a poll in that gap reads None, seen under load)."""
        if answer is not None:
            return self.process.poll()
        try:
            return self.process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            return None

    def launch(
        self, entry: str, args: list[str], log_path: Path | None, env: dict[str, str], memory_cap_bytes: int | None
    ) -> int:
        """Fork a child running `entry.main(args)`; its pid. `log_path=None`: output to the caller's stderr."""
        request = {"entry": entry, "args": args, "log": None if log_path is None else str(log_path), "env": env}
        self._send({**request, "memory_cap": memory_cap_bytes})
        answer = self._next(ANSWER_TIMEOUT_S)
        if not answer or "pid" not in answer:
            raise ForkServerError(f"fork server did not start the benchmark (got {answer!r})", self._exit_code(answer))
        self.running.add(answer["pid"])
        return answer["pid"]

    def wait_any(self, pids: Collection[int], timeout_s: float | None) -> dict[int, int]:
        """Exit codes of those of `pids` that have ended, after sleeping in select() (at most
        `timeout_s`) until one does; {} at the timeout. Raises ForkServerError if the server is gone."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not (done := {pid: self.exits.pop(pid) for pid in pids if pid in self.exits}):
            if not self._answers.wait(None if deadline is None else deadline - time.monotonic()):
                return {}
            answer = self._answers.pop()
            if answer is None or "exit_code" not in answer:
                names = ", ".join(str(pid) for pid in sorted(pids))
                raise ForkServerError(
                    f"fork server lost track of benchmark process {names} (got {answer!r})", self._exit_code(answer)
                )
            self._note_exit(answer)
        return done

    def wait(self, pid: int, timeout_s: float) -> tuple[int, bool]:
        """(exit code, timed out). Sleeps in select(); on timeout the child's group is killed."""
        try:
            done = self.wait_any([pid], timeout_s)
            timed_out = not done
            if timed_out:
                kill_group(pid)
                done = self.wait_any([pid], ANSWER_TIMEOUT_S)
        except BaseException:
            kill_group(pid)  # the caller is being stopped, or the server is gone: take the child down
            raise
        if not done:
            kill_group(pid)
            raise ForkServerError(f"fork server lost track of benchmark process {pid} (got None)", self.process.poll())
        return done[pid], timed_out

    def kill(self, pid: int) -> None:
        """Kill a child's process group and let the server reap it; never raises."""
        try:
            self.wait_any([pid], 0)  # ended already: nothing to kill (its pid may be reused)
            if pid in self.running:
                kill_group(pid)
                self.wait_any([pid], ANSWER_TIMEOUT_S)
        except ForkServerError:
            pass  # the server is gone, and its children with it (parent-death signal)

    def close(self) -> None:
        for pid in self.running:
            kill_group(pid)
        if self.alive:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ForkServerPool:
    """Fork servers started on first use, one per (variant, slot).

    The variant names the environment a server starts with (`environment_for(variant)`): the bench
    runner's is the OpenMP wait policy, which the runtime reads once, when torch loads, so a server's
    children all inherit the policy it started with. Slots are independent servers of one variant:
    distinct interpreters, hence distinct address-space layouts, so that the first processes
    measuring one configuration (process i forked from slot i) do not all inherit one parent's
    memory layout. There are at most `slots` of them (default 3, the default process count): a
    process beyond that reuses slot i mod `slots`. Each server costs ~3 s and ~380 MB to start, and
    layout turned out not to be what spreads processes (fresh interpreters with address-space
    randomisation off, all sharing one layout, spread as much as with it on: bert CV 11.9% vs 11.6%).
    Slot 0 is the one server a variant has by default. If a server cannot start, or dies, `get`
    returns None from then on (callers start a new interpreter each) and the reason is logged.
    """

    def __init__(
        self,
        environment_for: Callable[[str], dict[str, str]],
        preload: Iterable[str],
        log=None,
        sys_path: Iterable[str] = (),
        slots: int = DEFAULT_SLOTS,
    ):
        if slots < 1:
            raise ValueError(f"a fork server pool needs at least one slot, got {slots!r}")
        self.environment_for = environment_for
        self.preload = list(preload)
        self.sys_path = list(sys_path)
        self.log = log or logging.getLogger(__name__)
        self.slots = slots
        self.servers: dict[tuple[str, int], ForkServer] = {}
        self.failed: set[tuple[str, int]] = set()

    def get(self, variant: str, slot: int = 0) -> ForkServer | None:
        slot %= self.slots
        key = (variant, slot)
        self._ensure([key])
        server = self.servers.get(key)
        if server is not None and not server.alive:
            self.log.warning(f"fork server ({_name(key)}) died; starting a new interpreter per benchmark from now on")
            self.discard(variant, slot)
            return None
        return server

    def start(self, variant: str, processes: int) -> None:
        """Start the servers that `processes` processes of one configuration will use, all at once,
        before anything is timed: three preloading together took 5.2-6.2 s here, one alone ~3 s."""
        self._ensure([(variant, slot) for slot in range(min(processes, self.slots))])

    def _ensure(self, keys: list[tuple[str, int]]) -> None:
        """Launch the servers of `keys` not yet tried, then wait for all of them to be ready."""
        for key in keys:
            if key not in self.servers and key not in self.failed:
                self._launch(key)
        for key in keys:
            self._wait_ready(key)

    def _launch(self, key: tuple[str, int]) -> None:
        try:
            self.servers[key] = ForkServer(self.preload, self.environment_for(key[0]), self.sys_path, wait=False)
        except OSError as error:
            self._unavailable(key, error)

    def _wait_ready(self, key: tuple[str, int]) -> None:
        server = self.servers.get(key)
        if server is None or server.preload_s is not None:
            return
        try:
            server.wait_ready()
            self.log.info(f"fork server ({_name(key)}) up: imports preloaded in {server.preload_s:.1f} s")
        except ForkServerError as error:
            del self.servers[key]
            self._unavailable(key, error)

    def _unavailable(self, key: tuple[str, int], error: Exception) -> None:
        self.failed.add(key)
        self.log.warning(f"fork server unavailable, starting a new interpreter per benchmark: {error}")

    def discard(self, variant: str, slot: int = 0) -> None:
        """Stop using a server that failed; later calls for that (variant, slot) start a new interpreter."""
        slot %= self.slots
        server = self.servers.pop((variant, slot), None)
        if server is not None:
            server.close()
        self.failed.add((variant, slot))

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()

    def __enter__(self) -> ForkServerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _name(key: tuple[str, int]) -> str:
    variant, slot = key
    return variant if slot == 0 else f"{variant}, slot {slot}"


if __name__ == "__main__":
    serve()
