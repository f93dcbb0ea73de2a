"""Appending items to a conversation in real Postgres: each batch stays contiguous and in
order however many appenders race, and a conversation that is gone takes none."""
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.conversations import service as conversations
from shared.errors import NotFoundError
from shared.items.inputs import parse_items
from shared.projects.api_keys import ensure_project
from shared.storage.db import unit_of_work
from shared.storage.pagination import PageQuery

APPENDERS = 6
BATCH = 5


def _batch(name: str) -> list[dict[str, object]]:
    return parse_items([{"role": "user", "content": f"{name}-{n}"} for n in range(BATCH)],
                       "items")


def _texts(project_id: str, conversation_id: str) -> list[str]:
    page = conversations.list_items(project_id, conversation_id,
                                    PageQuery(limit=100, order="asc"), ())
    return [item["content"][0]["text"] for item in page.data]


def test_racing_batches_stay_contiguous(database_url: str) -> None:
    project_id = ensure_project(f"conversations-{uuid.uuid4().hex}")
    conversation_id = conversations.create_conversation(project_id, {})["id"]
    start = threading.Barrier(APPENDERS)

    def append(name: str) -> None:
        items = _batch(name)
        start.wait(timeout=30)
        with unit_of_work() as conn:
            conversations.append_items(conn, project_id, conversation_id, items)

    with ThreadPoolExecutor(APPENDERS) as pool:
        list(pool.map(append, [f"b{n}" for n in range(APPENDERS)]))

    texts = _texts(project_id, conversation_id)
    assert len(texts) == APPENDERS * BATCH
    batches = [texts[i:i + BATCH] for i in range(0, len(texts), BATCH)]
    for batch in batches:
        name = batch[0].split("-")[0]
        assert batch == [f"{name}-{n}" for n in range(BATCH)], texts
    assert len({batch[0] for batch in batches}) == APPENDERS


def test_a_conversation_that_is_gone_takes_no_items(database_url: str) -> None:
    project_id = ensure_project(f"conversations-{uuid.uuid4().hex}")
    conversation_id = conversations.create_conversation(project_id, {})["id"]
    other_project = ensure_project(f"conversations-{uuid.uuid4().hex}")
    with pytest.raises(NotFoundError), unit_of_work() as conn:
        conversations.append_items(conn, other_project, conversation_id, _batch("x"))
    conversations.delete_conversation(project_id, conversation_id)
    with pytest.raises(NotFoundError), unit_of_work() as conn:
        conversations.append_items(conn, project_id, conversation_id, _batch("y"))
