"""A runs worker told to stop (SIGTERM, as `docker stop` or Ctrl-C do) mid-run.

A run that ends within the grace period (TREADLE_WORKER_SHUTDOWN_GRACE_SECONDS) ends on that
worker; a longer one is handed back at once and another worker repeats only the interrupted
model call. Either way the run ends completed with one message and no step twice.
"""
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import TREADLE, stop_processes
from tests.e2e.test_recovery import Stack, script, wait_status


@pytest.fixture
def own_stack(server_env: dict[str, str], worker_id: str, tmp_path: Path
          ) -> Iterator[tuple[Stack, str]]:
    """Processes of their own on a database of their own, and a key there: the session's
    timers share no Postgres with them, so they never requeue these runs on their broker."""
    index = 8 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0) % 8
    redis_url = server_env["TREADLE_REDIS_URL"].rsplit("/", 1)[0] + f"/{index}"
    redis.Redis.from_url(redis_url).flushdb()
    name = f"treadle_stop_{uuid.uuid4().hex[:12]}"
    maintenance = make_conninfo(server_env["TREADLE_DATABASE_URL"], dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = {**server_env, "TREADLE_REDIS_URL": redis_url, "TREADLE_DATA_DIR": str(tmp_path),
           "TREADLE_DATABASE_URL": make_conninfo(maintenance, dbname=name)}
    subprocess.run([str(TREADLE), "migrate"], env=env, check=True, capture_output=True)
    made = subprocess.run([str(TREADLE), "keys", "create", "--project", "stop"], env=env,
                          check=True, capture_output=True, text=True)
    built = Stack(env, tmp_path)
    try:
        built.timers = built.start(["worker", "--pool", "timers"], "timers", "ready.")
        built.start(["scheduler"], "scheduler")
        yield built, made.stdout.split()[-1]
    finally:
        stop_processes(built.processes)
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def started_run(stack: Stack, api_key: str, tokens: int) -> tuple[openai.OpenAI, Any, Any, str]:
    base = stack.api()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    text = script(tokens=tokens, chunk_delay_ms=50)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 30
    while not client.beta.threads.messages.list(thread.id, run_id=run.id).data:
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    return client, thread, run, text.split("\n")[0]


def assert_one_answer(client: openai.OpenAI, thread: Any, run: Any, tokens: int) -> None:
    done = wait_status(client, thread.id, run.id, {"completed", "failed", "cancelled"})
    assert done.status == "completed", done.last_error
    messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(messages) == 1
    assert messages[0].content[0].text.value.endswith(f"tok{tokens - 1}")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]


def calls(model_server: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in model_server.requests("/v1/chat/completions")
            if marker in json.dumps(r["body"])]


def test_a_stopped_worker_finishes_a_short_run(own_stack: tuple[Stack, str],
                                               model_server: Any) -> None:
    stack, api_key = own_stack
    worker = stack.runs_worker("runs-stopped")
    client, thread, run, marker = started_run(stack, api_key, tokens=40)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert_one_answer(client, thread, run, tokens=40)
    assert len(calls(model_server, marker)) == 1


def test_a_stopped_worker_hands_a_long_run_back(own_stack: tuple[Stack, str],
                                                model_server: Any) -> None:
    stack, api_key = own_stack
    stack.env["TREADLE_WORKER_SHUTDOWN_GRACE_SECONDS"] = "1"
    worker = stack.runs_worker("runs-leaving")
    client, thread, run, marker = started_run(stack, api_key, tokens=300)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    # Handed back, not lost: the run waits for a worker, not for its lease to lapse.
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status in (
        "queued", "in_progress")
    stack.runs_worker("runs-heir")
    assert_one_answer(client, thread, run, tokens=300)
    made = calls(model_server, marker)
    assert len(made) == 2 and not made[0]["completed"] and made[1]["completed"]
