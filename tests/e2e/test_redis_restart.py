"""Redis is disposable: killed (-9) under running runs and started again, with its data or
without, it costs no run. Every run completes exactly once, none fails, and the workers
reconnect instead of dying.

The Redis is this file's own, served on a Unix socket and used as Celery's broker through a
`redis+socket://` URL, as `treadle up` serves its embedded one.
"""
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from shared.storage import redis_keys
from tests.conftest import (
    free_port,
    own_database,
    start_process,
    stop_processes,
    wait_for_line,
    wait_until_healthy,
)
from tests.support.servers import RedisServer

RUNS = 6
TOKENS = 30


@dataclass
class Stack:
    redis: RedisServer
    key: str
    base: str = ""
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)


@pytest.fixture
def stack(server_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    # A short folder: a Unix socket's path must fit in 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="treadle-redis-"))
    server = RedisServer(folder)
    server.start()
    env = {**server_env, "TREADLE_REDIS_URL": server.url,
           "TREADLE_BROKER_URL": f"redis+socket://{server.socket}",
           "TREADLE_DATA_DIR": str(tmp_path),
           # The parked run must still wait when the test looks for its deadline.
           "TREADLE_RUN_EXPIRY_SECONDS": "600"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with own_database(env, "redis-restart") as (env, key):
            built = Stack(server, key)
            try:
                for name, args in (("runs", ["worker", "--pool", "runs", "--concurrency",
                                             str(RUNS)]),
                                   ("timers", ["worker", "--pool", "timers"]),
                                   ("scheduler", ["scheduler"])):
                    built.workers[name] = start_process(args, env, tmp_path / f"{name}.log")
                    processes.append(built.workers[name])
                port = free_port()
                api = start_process(["api", "--port", str(port)], env, tmp_path / "api.log")
                processes.append(api)
                built.base = f"http://127.0.0.1:{port}"
                wait_until_healthy(built.base, api)
                for name in ("runs", "timers"):
                    wait_for_line(tmp_path / f"{name}.log", "ready.", built.workers[name])
                yield built
            finally:
                stop_processes(processes)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def wait_ended(client: openai.OpenAI, runs: dict[str, str], seconds: float = 60
               ) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    ended: dict[str, Any] = {}
    while len(ended) < len(runs):
        assert time.monotonic() < deadline, f"runs still going: {set(runs) - set(ended)}"
        for run_id, thread_id in runs.items():
            if run_id not in ended:
                run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
                if run.status not in ("queued", "in_progress"):
                    ended[run_id] = run
        time.sleep(0.2)
    return ended


@pytest.mark.parametrize("keep_data", [True, False], ids=["with-data", "without-data"])
def test_a_redis_restart_loses_no_run(stack: Stack, keep_data: bool) -> None:
    client = openai.OpenAI(base_url=f"{stack.base}/v1", api_key=stack.key, max_retries=0)
    # A run waiting for a function's output: its deadline is in Redis's index.
    parked = client.beta.threads.create_and_run_poll(
        assistant_id=client.beta.assistants.create(model="test-model", tools=[{
            "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        ).id,
        thread={"messages": [{"role": "user", "content": "SCRIPT: " + json.dumps(
            {"tool_calls": [{"name": "f", "arguments": {}}]})}]}, poll_interval_ms=100)
    assert parked.status == "requires_action"
    assistant = client.beta.assistants.create(model="test-model")
    runs: dict[str, str] = {}
    for _ in range(RUNS):
        text = f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(
            {"tokens": TOKENS, "chunk_delay_ms": 100})
        thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
        runs[client.beta.threads.runs.create(thread.id, assistant_id=assistant.id).id] = \
            thread.id

    deadline = time.monotonic() + 20
    while not all(client.beta.threads.messages.list(t, run_id=r).data
                  for r, t in runs.items()):
        assert time.monotonic() < deadline, "the runs never started writing"
        time.sleep(0.1)
    stack.redis.kill(keep_data)
    time.sleep(1)
    stack.redis.start()

    ended = wait_ended(client, runs)
    assert {r.status for r in ended.values()} == {"completed"}, [
        r.last_error for r in ended.values()]
    for run_id, thread_id in runs.items():
        messages = client.beta.threads.messages.list(thread_id, run_id=run_id).data
        assert len(messages) == 1
        assert messages[0].status == "completed"
        assert messages[0].content[0].text.value.endswith(f"tok{TOKENS - 1}")
    for name, process in stack.workers.items():
        assert process.poll() is None, f"the {name} process died"
    # The deadline index is rebuilt from Postgres when Redis comes back without it.
    index = redis.Redis(unix_socket_path=str(stack.redis.socket))
    deadline = time.monotonic() + 10
    while index.zscore(redis_keys.RUN_DEADLINES, parked.id) is None:
        assert time.monotonic() < deadline, "the deadline index was not rebuilt"
        time.sleep(0.1)

    # The workers still take new runs on the restarted Redis.
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "again"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id,
                                                   poll_interval_ms=100)
    assert run.status == "completed", run.last_error
