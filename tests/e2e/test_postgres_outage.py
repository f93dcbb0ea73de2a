"""Postgres goes away and comes back: while it is away the API answers 503 promptly, once
it is back the API serves again within seconds and without a 503 from a stale pooled
connection, and a run that could not write its end is resumed rather than failed.

The PostgreSQL (pgserver's, as `treadle up` embeds) and the Redis are this file's own.
"""
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.conftest import (
    TREADLE,
    free_port,
    start_process,
    stop_processes,
    wait_for_line,
    wait_until_healthy,
)
from tests.support.servers import PostgresServer, RedisServer


@dataclass
class Stack:
    postgres: PostgresServer
    base: str
    key: str


@pytest.fixture
def stack(server_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    # A short folder: the servers' Unix socket paths must fit in 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="treadle-pg-"))
    redis_server = RedisServer(folder)
    redis_server.start()
    postgres = PostgresServer(folder / "pgdata")
    env = {**server_env, "TREADLE_DATABASE_URL": postgres.url("treadle"),
           "TREADLE_REDIS_URL": redis_server.url,
           "TREADLE_BROKER_URL": f"redis+socket://{redis_server.socket}",
           "TREADLE_DATA_DIR": str(tmp_path)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([str(TREADLE), "migrate"], env=env, check=True, capture_output=True)
        made = subprocess.run([str(TREADLE), "keys", "create", "--project", "pg-outage"],
                              env=env, check=True, capture_output=True, text=True)
        for name, args in (("runs", ["worker", "--pool", "runs", "--concurrency", "2"]),
                           ("timers", ["worker", "--pool", "timers"]),
                           ("scheduler", ["scheduler"])):
            processes.append(start_process(args, env, tmp_path / f"{name}.log"))
        port = free_port()
        api = start_process(["api", "--port", str(port)], env, tmp_path / "api.log")
        processes.append(api)
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, api)
        wait_for_line(tmp_path / "runs.log", "ready.", processes[0])
        yield Stack(postgres, base, made.stdout.split()[-1])
    finally:
        stop_processes(processes)
        postgres.close()
        redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def answer(stack: Stack, path: str) -> tuple[int, float]:
    """The status of GET `path` and how long it took."""
    request = urllib.request.Request(f"{stack.base}{path}",
                                     headers={"Authorization": f"Bearer {stack.key}"})
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.monotonic() - began


def test_postgres_away_is_a_prompt_503_and_its_return_is_served(stack: Stack) -> None:
    client = openai.OpenAI(base_url=f"{stack.base}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    text = f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps({"tokens": 10, "chunk_delay_ms": 100})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 20
    while not client.beta.threads.messages.list(thread.id, run_id=run.id).data:
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)

    stack.postgres.stop()
    # The bound is generous (the pool gives up after db_pool_timeout_seconds, 1 s): it
    # tells a prompt answer from the 10 s wait a request used to have.
    for path in ("/ready", "/v1/assistants", "/v1/assistants"):
        status, took = answer(stack, path)
        assert status == 503, path
        assert took < 3, (path, took)
    # By now the run's model call (1 s) ended while Postgres was away.
    stack.postgres.start()

    deadline = time.monotonic() + 10
    while answer(stack, "/v1/assistants")[0] != 200:
        assert time.monotonic() < deadline, "the API did not serve again"
        time.sleep(0.1)
    statuses = [answer(stack, path)[0] for _ in range(10)
                for path in ("/v1/assistants", "/ready")]
    assert set(statuses) == {200}

    deadline = time.monotonic() + 30
    while (run := client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).status in (
            "queued", "in_progress"):
        assert time.monotonic() < deadline, "the run was not resumed"
        time.sleep(0.2)
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(messages) == 1
    assert messages[0].content[0].text.value.endswith("tok9")
