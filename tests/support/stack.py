"""A stack of a test's own: API replicas and runs workers it can start and kill, timers and
a scheduler watching them, on a Redis database and a Postgres database of their own.

Tests that kill or start worker processes cannot share the session's. Import the `stack`
fixture into the test module (`from tests.support.stack import Stack, stack`), or build on
`own_stack` for a fixture of another shape. What its runs ended as is read from its
Postgres (`outcomes`): a response is a run of the same id.
"""
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from tests.conftest import (
    free_port,
    own_database,
    start_process,
    stop_processes,
    wait_for_line,
    wait_until_healthy,
)
from tests.support.waiting import wait_for


class Stack:
    """Processes of a test's own on a Redis and a database of their own; `key` is a key of
    that database's project."""

    def __init__(self, env: dict[str, str], folder: Path, key: str):
        self.env = env
        self.folder = folder
        self.key = key
        self.processes: list[subprocess.Popen[bytes]] = []
        self.bases: list[str] = []
        self.timers: subprocess.Popen[bytes] | None = None

    def start(self, args: list[str], name: str, ready: str | None = None
              ) -> subprocess.Popen[bytes]:
        log = self.folder / f"{name}.log"
        process = start_process(args, self.env, log)
        self.processes.append(process)
        if ready is not None:
            wait_for_line(log, ready, process)
        return process

    def api(self) -> str:
        port = free_port()
        process = self.start(["api", "--port", str(port)], f"api-{port}")
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process)
        self.bases.append(base)
        return base

    def runs_worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(["worker", "--pool", "runs", "--concurrency", "4"], name, "ready.")

    def wide_runs_worker(self, name: str) -> subprocess.Popen[bytes]:
        """A runs worker with the default concurrency (thousands), its node named `name`."""
        return self.start(["worker", "--pool", "runs", "--name", name], name, "ready.")


@contextmanager
def own_stack(server_env: dict[str, str], worker_id: str, folder: Path,
              broker: str | None = None) -> Iterator[Stack]:
    """Timers and a scheduler running on the stack's services (`broker`: another broker
    than its Redis); every process the stack started is stopped at the end."""
    # Databases 8..15 of the session's Redis: one per test process, apart from the session's.
    index = 8 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0) % 8
    redis_url = server_env["TREADLE_REDIS_URL"].rsplit("/", 1)[0] + f"/{index}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {**server_env, "TREADLE_REDIS_URL": redis_url, "TREADLE_DATA_DIR": str(folder)}
    if broker is not None:
        env["TREADLE_BROKER_URL"] = broker
    with own_database(env, "stack") as (env, key):
        built = Stack(env, folder, key)
        try:
            built.timers = built.start(["worker", "--pool", "timers"], "timers", "ready.")
            built.start(["scheduler"], "scheduler")
            yield built
        finally:
            stop_processes(built.processes)


TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}


def connect(stack: Stack) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(stack.env["TREADLE_DATABASE_URL"], autocommit=True,
                           row_factory=dict_row)


def outcomes(stack: Stack, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per run: its status, its assistant messages (status, text) and its steps (type,
    status), oldest first."""
    with connect(stack) as conn:
        runs = conn.execute("SELECT id, status FROM runs WHERE id = ANY(%s)",
                            [run_ids]).fetchall()
        messages = conn.execute(
            "SELECT run_id, status, content FROM messages WHERE run_id = ANY(%s) ORDER BY seq",
            [run_ids]).fetchall()
        steps = conn.execute(
            "SELECT run_id, type, status FROM run_steps WHERE run_id = ANY(%s) ORDER BY seq",
            [run_ids]).fetchall()
    found = {r["id"]: {"status": r["status"], "messages": [], "steps": []} for r in runs}
    for m in messages:
        text = "".join(p["text"]["value"] for p in m["content"] if p["type"] == "text")
        found[m["run_id"]]["messages"].append((m["status"], text))
    for s in steps:
        found[s["run_id"]]["steps"].append((s["type"], s["status"]))
    return found


def wait_all_ended(stack: Stack, run_ids: list[str], seconds: float = 45
                   ) -> dict[str, dict[str, Any]]:
    """The runs' outcomes once every one has ended, or as they stand after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = outcomes(stack, run_ids)
        active = [r for r in found.values() if r["status"] not in TERMINAL]
        if not active or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def kill_mid_stream(stack: Stack, victim: subprocess.Popen[bytes], run_ids: list[str],
                    seconds: float) -> None:
    """SIGKILL the runs worker `victim` once nine in ten of the runs show part of their
    answer, and start a runs worker that takes them over."""
    def streaming() -> int:
        with connect(stack) as conn:
            row = conn.execute("SELECT count(*) AS n FROM messages WHERE run_id = ANY(%s)"
                               " AND status = 'in_progress'", [run_ids]).fetchone()
        assert row is not None
        return int(row["n"])

    wait_for(lambda: streaming() >= len(run_ids) * 0.9, seconds,
             "the runs never started streaming")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stack.wide_runs_worker("runs-heir")


@pytest.fixture
def stack(server_env: dict[str, str], worker_id: str, tmp_path: Path,
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack of the test's own; parametrized indirectly, the parameter is its broker."""
    with own_stack(server_env, worker_id, tmp_path, getattr(request, "param", None)) as built:
        yield built
