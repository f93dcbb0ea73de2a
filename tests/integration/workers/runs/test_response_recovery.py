"""A response whose runs worker is killed mid-answer is taken over and ends once: one
output, one copy of its items in its conversation, one terminal event.

It kills and starts worker processes of its own, so it runs a stack of its own
(tests/support/stack), and this test process's own calls into shared/ point at that stack
while the test runs.
"""
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from shared.config import get_settings
from shared.conversations import service as conversations
from shared.platform import tasks
from shared.projects.api_keys import ensure_project
from shared.responses import service
from shared.storage import db, redis_keys
from shared.storage import redis as storage_redis
from shared.storage.db import reading
from shared.storage.pagination import PageQuery
from shared.storage.redis import get_redis
from tests.e2e.scripts import script
from tests.support.stack import Stack, own_stack
from tests.support.waiting import wait_for

POINTED = ("TREADLE_DATABASE_URL", "TREADLE_REDIS_URL")


def _point_at(env: dict[str, str]) -> None:
    """This process's settings, Postgres pool and Redis client, on `env`'s services."""
    os.environ.update({name: env[name] for name in POINTED})
    get_settings.cache_clear()
    db.close_pool()
    # The client is remade on the new URL at its next use.
    storage_redis._client = None


@pytest.fixture
def stack(server_env: dict[str, str], worker_id: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    session = {name: server_env[name] for name in POINTED}
    with own_stack(server_env, worker_id, tmp_path) as built:
        # Runs are sent on the stack's broker (the process's Celery app keeps the session's).
        broker = Celery("stack", broker=built.env["TREADLE_REDIS_URL"])
        monkeypatch.setattr(tasks, "send_run", lambda run_id, thread_id=None: broker.send_task(
            tasks.EXECUTE_RUN, args=[run_id, thread_id], queue="runs"))
        _point_at(built.env)
        try:
            yield built
        finally:
            _point_at(session)


def _run(response_id: str) -> dict[str, Any]:
    with reading() as conn:
        row = conn.execute("SELECT * FROM runs WHERE id = %s", (response_id,)).fetchone()
    assert row is not None
    return row


def _writing(response_id: str) -> bool:
    with reading() as conn:
        return conn.execute("SELECT 1 FROM messages WHERE run_id = %s",
                            (response_id,)).fetchone() is not None


def test_a_killed_workers_response_completes_once(stack: Stack) -> None:
    project = ensure_project(f"recovery-{uuid.uuid4().hex}")
    conversation = conversations.create_conversation(project, {})["id"]
    victim = stack.runs_worker("runs-victim")
    response_id = service.create_response(project, {
        "model": "test-model", "background": True, "conversation": conversation,
        "input": script(tokens=60, chunk_delay_ms=50)}).response["id"]
    wait_for(lambda: _writing(response_id), 30, "the response started writing")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stack.runs_worker("runs-heir")
    wait_for(lambda: _run(response_id)["status"] == "completed", 90, "the response completed")

    # The heir took it over (on a busy machine a cold worker may lose a lease once more).
    assert _run(response_id)["attempts"] >= 2
    output = service.get_response_row(project, response_id).response["output"]
    messages = [item for item in output if item["type"] == "message"]
    assert len(messages) == 1
    assert messages[0]["content"][0]["text"] == " ".join(f"tok{i}" for i in range(60))
    items = conversations.list_items(project, conversation, PageQuery(order="asc"), ()).data
    assert [item["type"] for item in items] == ["message", "message"]
    assert items[1]["id"] == messages[0]["id"]
    entries: Any = get_redis().xrange(redis_keys.run_events(response_id))
    names = [fields[b"e"].decode() for _, fields in entries]
    assert names.count("thread.run.completed") == 1
    assert json.loads(entries[-2][1][b"d"])["status"] == "completed"
