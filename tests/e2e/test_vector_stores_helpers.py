"""Vector stores made for assistants and threads: the tool_resources helper and message
attachments for file_search, through the SDK."""
import io
from typing import Any

import openai
import pytest

from tests.e2e.test_vector_stores import NOTES, POEM, search
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("workers")

WEEK = {"anchor": "last_active_at", "days": 7}
SMALL_CHUNKS = {"type": "static",
                "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 100}}


@pytest.fixture
def stores(client: openai.OpenAI) -> Any:
    return getattr(client, "vector_stores", None) or client.beta.vector_stores


def upload(client: openai.OpenAI, name: str, data: bytes) -> Any:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="assistants")


def completed(stores: Any, store_id: str, count: int) -> Any:
    return wait_for(lambda: (s := stores.retrieve(store_id)).file_counts.completed == count
                    and s)


def test_assistant_helper_creates_the_store(client: openai.OpenAI, stores: Any) -> None:
    notes = upload(client, "notes.txt", NOTES)
    assistant = client.beta.assistants.create(
        model="test-model", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{
            "file_ids": [notes.id], "chunking_strategy": SMALL_CHUNKS,
            "metadata": {"made_by": "helper"}}]}})
    ids = assistant.tool_resources.file_search.vector_store_ids
    assert len(ids) == 1 and ids[0].startswith("vs_")
    store = completed(stores, ids[0], 1)
    assert store.metadata == {"made_by": "helper"}
    assert store.expires_after is None  # only thread helpers expire by default
    file = stores.files.retrieve(notes.id, vector_store_id=store.id)
    assert file.chunking_strategy.static.max_chunk_size_tokens == 300
    assert search(client, store.id, query="ZX-4471")["data"][0]["file_id"] == notes.id
    assert client.beta.assistants.retrieve(assistant.id).tool_resources.file_search \
        .vector_store_ids == ids


def test_thread_helper_store_expires_a_week_after_use(client: openai.OpenAI,
                                                      stores: Any) -> None:
    poem = upload(client, "garden.md", POEM)
    thread = client.beta.threads.create(tool_resources={"file_search": {
        "vector_stores": [{"file_ids": [poem.id]}]}})
    store_id = thread.tool_resources.file_search.vector_store_ids[0]
    store = completed(stores, store_id, 1)
    assert store.expires_after.anchor == "last_active_at" and store.expires_after.days == 7
    assert store.expires_at == store.last_active_at + 7 * 86400
    assert search(client, store_id, query="lavender")["data"][0]["file_id"] == poem.id

    # The helper on a modified thread makes a thread store too.
    modified = client.post(f"/threads/{thread.id}", cast_to=object, body={"tool_resources": {
        "file_search": {"vector_stores": [{"file_ids": [poem.id]}]}}},
        options={"headers": {"OpenAI-Beta": "assistants=v2"}})
    [again] = modified["tool_resources"]["file_search"]["vector_store_ids"]
    assert again != store_id and stores.retrieve(again).expires_after.days == 7


def test_create_thread_and_run_helper(client: openai.OpenAI, stores: Any) -> None:
    notes = upload(client, "notes.txt", NOTES)
    assistant = client.beta.assistants.create(model="test-model",
                                              tools=[{"type": "file_search"}])
    run = client.beta.threads.create_and_run(assistant_id=assistant.id, thread={
        "messages": [{"role": "user", "content": "Which part was recalled?"}],
        "tool_resources": {"file_search": {"vector_stores": [{"file_ids": [notes.id]}]}}})
    thread = client.beta.threads.retrieve(run.thread_id)
    store_id = thread.tool_resources.file_search.vector_store_ids[0]
    completed(stores, store_id, 1)
    assert search(client, store_id, query="ZX-4471")["data"][0]["file_id"] == notes.id


def test_helper_errors_leave_nothing_behind(client: openai.OpenAI, stores: Any) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.assistants.create(model="test-model", tool_resources={"file_search": {
            "vector_stores": [{"file_ids": ["file-abc123abc123abc123abc123"]}]}})
    assert error.value.body["param"] == \
        "tool_resources.file_search.vector_stores[0].file_ids[0]"
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.create(tool_resources={"file_search": {
            "vector_store_ids": ["vs_abc123abc123abc123abc123"],
            "vector_stores": [{"file_ids": []}]}})
    assert error.value.body["param"] == "tool_resources.file_search.vector_stores"
    assert list(stores.list()) == []


def test_attachments_fill_the_thread_store(client: openai.OpenAI, stores: Any) -> None:
    notes = upload(client, "notes.txt", NOTES)
    poem = upload(client, "garden.md", POEM)
    thread = client.beta.threads.create(messages=[{
        "role": "user", "content": "What was recalled?",
        "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}]}])
    store_ids = thread.tool_resources.file_search.vector_store_ids
    assert len(store_ids) == 1
    store = completed(stores, store_ids[0], 1)
    assert store.name == f"Vector store for {thread.id}"
    assert store.expires_after.days == 7
    assert search(client, store.id, query="ZX-4471")["data"][0]["file_id"] == notes.id

    # Later attachments join the same store; one for code_interpreter only does not.
    message = client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="And the garden?",
        attachments=[{"file_id": poem.id, "tools": [{"type": "file_search"},
                                                    {"type": "code_interpreter"}]},
                     {"file_id": notes.id, "tools": [{"type": "file_search"}]}])
    assert [a.file_id for a in message.attachments] == [poem.id, notes.id]
    other = upload(client, "other.txt", b"Only for the code interpreter.")
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="Run this",
        attachments=[{"file_id": other.id, "tools": [{"type": "code_interpreter"}]}])
    completed(stores, store.id, 2)
    assert {f.id for f in stores.files.list(vector_store_id=store.id)} == {notes.id, poem.id}
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search \
        .vector_store_ids == store_ids
    assert search(client, store.id, query="lavender")["data"][0]["file_id"] == poem.id


def test_attachment_on_a_thread_with_its_own_store(client: openai.OpenAI,
                                                   stores: Any) -> None:
    store = stores.create(name="Mine")
    thread = client.beta.threads.create(
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    notes = upload(client, "notes.txt", NOTES)
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="Read this",
        attachments=[{"file_id": notes.id, "tools": [{"type": "file_search"}]}])
    completed(stores, store.id, 1)
    assert [s.id for s in stores.list()] == [store.id]


def test_attachments_in_additional_messages(client: openai.OpenAI, stores: Any) -> None:
    assistant = client.beta.assistants.create(model="test-model",
                                              tools=[{"type": "file_search"}])
    thread = client.beta.threads.create()
    notes = upload(client, "notes.txt", NOTES)
    client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, additional_messages=[{
            "role": "user", "content": "What was recalled?",
            "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}]}])
    store_id = client.beta.threads.retrieve(thread.id).tool_resources.file_search \
        .vector_store_ids[0]
    completed(stores, store_id, 1)
    assert search(client, store_id, query="ZX-4471")["data"][0]["file_id"] == notes.id


def test_bad_attachment_makes_no_store(client: openai.OpenAI, stores: Any) -> None:
    notes = upload(client, "notes.txt", NOTES)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.create(messages=[
            {"role": "user", "content": "one",
             "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}]},
            {"role": "user", "content": "two",
             "attachments": [{"file_id": "file-abc123abc123abc123abc123",
                              "tools": [{"type": "file_search"}]}]}])
    assert error.value.body["param"] == "messages[1].attachments[0].file_id"
    assert list(stores.list()) == []


def test_an_expired_thread_store_is_replaced(client: openai.OpenAI, stores: Any,
                                             database_url: str) -> None:
    import psycopg

    notes = upload(client, "notes.txt", NOTES)
    thread = client.beta.threads.create(messages=[{
        "role": "user", "content": "Read this",
        "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}]}])
    [old] = thread.tool_resources.file_search.vector_store_ids
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE vector_stores SET last_active_at = last_active_at - 8 * 86400 "
                     "WHERE id = %s", (old,))
    assert stores.retrieve(old).status == "expired"
    poem = upload(client, "garden.md", POEM)
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="And this",
        attachments=[{"file_id": poem.id, "tools": [{"type": "file_search"}]}])
    [new] = client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids
    assert new != old
    completed(stores, new, 1)
    assert stores.retrieve(new).status == "completed"
    assert stores.retrieve(old).status == "expired"
