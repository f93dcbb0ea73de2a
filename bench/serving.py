"""Treadle's API and ingest pool on a throwaway database, for the file_search benchmarks.

`serving()` creates a database, migrates it, makes a key, and starts the test model server
(`tests.support.model_server`: chat and a fast embeddings endpoint), `treadle api` and
`treadle worker --pool ingest`, each in its own session; on exit it stops them and drops
the database and the Redis database it used.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from processes import stop

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Stack:
    url: str
    key: str
    model_url: str
    database_url: str
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def tail(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-3000:]

    def start(self, name: str, command: list[str]) -> None:
        with open(self.logs[name], "wb") as log:
            self.processes[name] = subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait(self, name: str, ready: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{self.tail(name)}")

    def start_ingest(self) -> None:
        self.start("ingest", [treadle(), "worker", "--pool", "ingest"])
        self.wait("ingest", lambda: "ready." in self.tail("ingest"))

    def stop_ingest(self) -> None:
        process = self.processes.pop("ingest", None)
        if process is not None:
            stop(process)

    def peak_rss_mb(self, name: str) -> float:
        """The process's peak resident memory (VmHWM), in MB."""
        status = Path(f"/proc/{self.processes[name].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc status")


def treadle() -> str:
    return str(Path(sys.executable).parent / "treadle")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def prepare_database(database: str, env: dict[str, str]) -> str:
    """Create and migrate a throwaway database; a key of its project `bench`."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    subprocess.run([treadle(), "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run([treadle(), "keys", "create", "--project", "bench"], env=env,
                             check=True, capture_output=True, text=True)
    return created.stdout.strip().splitlines()[-1]


def tear_down(processes: list[subprocess.Popen[bytes]], database: str, redis_url: str,
              workdir: Path) -> None:
    """Stop the processes (all told at once, then each waited for), drop what they used."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        stop(process)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    redis.Redis.from_url(redis_url).flushdb()
    shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def serving(redis_url: str, local_embeddings: bool = False, ingest: bool = True,
            api_workers: int = 2, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """The stack; `local_embeddings`: the ingest pool embeds with the local model instead of
    the model server's endpoint; `ingest`: start the ingest worker now (else the caller
    calls `start_ingest`, e.g. after preparing the data directory)."""
    database = f"treadle_bench_{secrets.token_hex(4)}"
    redis.Redis.from_url(redis_url).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="treadle_bench_vs_"))
    model_port, api_port = free_port(), free_port()
    model_url = f"http://127.0.0.1:{model_port}/v1"
    database_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    env = dict(os.environ, TREADLE_DATABASE_URL=database_url, TREADLE_REDIS_URL=redis_url,
               TREADLE_MODEL_BASE_URL=model_url, TREADLE_API_WORKERS=str(api_workers),
               TREADLE_DATA_DIR=str(workdir / "data"), **(extra_env or {}))
    env.pop("TREADLE_BROKER_URL", None)
    if local_embeddings:
        env.pop("TREADLE_EMBEDDINGS_BASE_URL", None)
    else:
        env["TREADLE_EMBEDDINGS_BASE_URL"] = model_url
    stack = Stack(f"http://127.0.0.1:{api_port}", "", model_url, database_url,
                  workdir / "data", env,
                  logs={name: workdir / f"{name}.log" for name in ("model", "api", "ingest")})
    try:
        stack.key = prepare_database(database, env)
        stack.start("model", [sys.executable, "-m", "tests.support.model_server",
                              "--port", str(model_port)])
        stack.start("api", [treadle(), "api", "--host", "127.0.0.1", "--port", str(api_port)])
        stack.wait("model", lambda: http_ok(f"{model_url}/models"))
        stack.wait("api", lambda: http_ok(f"{stack.url}/ready"))
        if ingest:
            stack.start_ingest()
        yield stack
    finally:
        tear_down(list(stack.processes.values()), database, redis_url, workdir)
