"""Threads and messages through the official SDK."""
import io
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest


def _upload(client: openai.OpenAI, name: str = "notes.txt", data: bytes = b"notes") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="assistants").id


def test_thread_with_messages_and_resources(client: openai.OpenAI) -> None:
    file_id = _upload(client)
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "Create 3 data visualizations based on this file.",
             "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking at it."},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png",
                                                    "detail": "low"}},
                {"type": "image_file", "image_file": {"file_id": file_id}},
            ], "metadata": {"n": "2"}},
        ],
        tool_resources={"code_interpreter": {"file_ids": [file_id]}},
        metadata={"user": "u1"},
    )
    assert thread.id.startswith("thread_") and thread.object == "thread"
    assert thread.tool_resources.code_interpreter.file_ids == [file_id]
    assert thread.metadata == {"user": "u1"}

    first, second = client.beta.threads.messages.list(thread.id, order="asc").data
    assert first.role == "user" and first.thread_id == thread.id
    assert first.content[0].text.value.startswith("Create 3")
    assert first.content[0].text.annotations == []
    assert first.attachments[0].file_id == file_id
    assert first.attachments[0].tools[0].type == "code_interpreter"
    assert first.status == "completed" and first.run_id is None and first.assistant_id is None
    assert [c.type for c in second.content] == ["text", "image_url", "image_file"]
    assert second.content[1].image_url.detail == "low"
    assert second.content[2].image_file.file_id == file_id
    assert second.metadata == {"n": "2"}

    assert client.beta.threads.retrieve(thread.id).model_dump() == thread.model_dump()
    modified = client.beta.threads.update(thread.id, metadata={"user": "u2"})
    assert modified.metadata == {"user": "u2"}
    assert modified.tool_resources.code_interpreter.file_ids == [file_id]

    deleted = client.beta.threads.delete(thread.id)
    assert deleted.deleted and deleted.object == "thread.deleted"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(first.id, thread_id=thread.id)


def test_message_round_trip(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id, role="user", content="I need to solve the equation `3x + 11 = 14`.",
        metadata={"k": "v"},
    )
    assert message.id.startswith("msg_") and message.object == "thread.message"
    assert message.content[0].text.value == "I need to solve the equation `3x + 11 = 14`."
    fetched = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.model_dump() == message.model_dump()
    updated = client.beta.threads.messages.update(message.id, thread_id=thread.id,
                                                  metadata={"k": "w"})
    assert updated.metadata == {"k": "w"} and updated.content == message.content
    deleted = client.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert deleted.deleted and deleted.object == "thread.message.deleted"
    assert client.beta.threads.messages.list(thread.id).data == []


def test_message_paging_and_run_filter(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    ids = [client.beta.threads.messages.create(thread.id, role="user", content=str(i)).id
           for i in range(250)]
    assert [m.id for m in client.beta.threads.messages.list(thread.id, order="asc",
                                                            limit=100)] == ids
    assert [m.id for m in client.beta.threads.messages.list(thread.id, limit=9)] == ids[::-1]
    page = client.beta.threads.messages.list(thread.id, order="desc", limit=5, before=ids[10])
    assert [m.id for m in page.data] == ids[15:10:-1]
    # The run filter is resolved in the thread, as the cursors are: no such run is a 400.
    with pytest.raises(openai.BadRequestError) as refused:
        client.beta.threads.messages.list(thread.id, run_id="run_" + "x" * 24)
    assert refused.value.param == "run_id"


def test_messages_of_one_thread_stay_there(client: openai.OpenAI) -> None:
    one = client.beta.threads.create(messages=[{"role": "user", "content": "one"}])
    two = client.beta.threads.create()
    message = client.beta.threads.messages.list(one.id).data[0]
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=two.id)
    assert client.beta.threads.messages.list(two.id).data == []


def test_concurrent_message_creates(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()

    def create(i: int) -> str:
        return client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id

    with ThreadPoolExecutor(max_workers=32) as pool:
        created = list(pool.map(create, range(32)))
    assert len(set(created)) == 32
    listed = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert sorted(listed) == sorted(created)
    again = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert again == listed
    assert [m.id for m in client.beta.threads.messages.list(thread.id)] == listed[::-1]


def test_threads_are_private_to_their_project(client: openai.OpenAI,
                                              other_client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "secret"}])
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.messages.create(thread.id, role="user", content="x")
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.delete(thread.id)
    assert len(client.beta.threads.messages.list(thread.id).data) == 1
