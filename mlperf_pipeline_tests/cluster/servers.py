"""Real servers on loopback for the cluster test: PostgreSQL and Redis from Debian packages, the
Dagster daemon and Celery workers, each a process the test starts and stops."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s\n{tail}")


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the `postgres` user there."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return Path(found[-1]).parent


class Postgres:
    def __init__(self):
        # its own folder under /tmp: the `postgres` user cannot enter pytest's (root-only) temp folders
        self.dir = Path(tempfile.mkdtemp(prefix="mlperf-pg-"))
        self.port = free_port()
        self.bin = postgres_bin()

    def start(self) -> Postgres:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        subprocess.run(
            _as_postgres([str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE dagster")
        connection.close()
        return self

    def env(self) -> dict[str, str]:
        return {
            "MLPERF_PG_HOST": "127.0.0.1",
            "MLPERF_PG_PORT": str(self.port),
            "MLPERF_PG_USER": "postgres",
            "MLPERF_PG_PASSWORD": "",
            "MLPERF_PG_DB": "dagster",
        }

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"]),
            capture_output=True,
        )


class Process:
    """A server process in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.popen = subprocess.Popen(
            command,
            env=env,
            cwd=env.get("MLPERF_HOME", str(REPO)),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pids(self) -> set[int]:
        """This process and every descendant (a Celery worker's pool processes, say)."""
        try:
            root = psutil.Process(self.popen.pid)
            return {root.pid, *(child.pid for child in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()

    def kill(self, sig: int = signal.SIGTERM) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            return

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(timeout=20)


def start_redis(log_dir: Path, env: dict[str, str]) -> tuple[Process, int]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = Process("redis", command, env, log_dir)
    wait_until(lambda: _port_open(port), "redis-server", log=redis.log)
    return redis, port


def start_worker(queue: str, env: dict[str, str], log_dir: Path, name: str | None = None) -> Process:
    """A worker of one hardware kind, as README "Running on a cluster" starts it: one run at a time."""
    command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", str(REPO / "deploy" / "cluster" / "celery.yaml"), "-q", queue, "-n", f"{queue}@%h"]
    command += ["--", "--concurrency", "1"]
    worker = Process(
        name or f"worker-{queue}",
        command,
        {**env, "MLPERF_WORKER_HARDWARE": queue, "MLPERF_NODE_DIR": str(log_dir / f"node-{queue}")},
        log_dir,
    )
    wait_until(lambda: "ready." in worker.log.read_text(), f"the {queue} worker", timeout_s=120, log=worker.log)
    return worker
