"""Responses as the API's service makes them, over real Postgres and Redis: the body checked
and translated into a run on a thread of the response's own, the ids it names resolved
inside the project, and what a response's end writes in the run's terminal transaction.

Sending the run's task is recorded instead of sent (`tasks.send_run` is the one thing
replaced), so no worker takes these runs up; their ends are driven through the lifecycle.
"""
import io
import json
import uuid
from typing import Any

import pytest
from redis import Redis

from shared.assistants.service import create_assistant
from shared.clock import now
from shared.conversations import service as conversations
from shared.errors import InvalidRequestError, NotFoundError
from shared.files.service import create_file
from shared.platform import tasks
from shared.projects.api_keys import ensure_project
from shared.responses import service
from shared.runs import lifecycle
from shared.storage import redis_keys
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.pagination import PageQuery
from shared.storage.redis import get_redis
from shared.storage.repository import MESSAGES, STEPS
from shared.threads.service import create_thread, list_threads
from shared.vector_stores.stores import create_vector_store

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


@pytest.fixture
def redis(database_url: str, redis_url: str) -> Redis:
    return get_redis()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    runs: list[str] = []
    monkeypatch.setattr(tasks, "send_run", lambda run_id, thread_id=None: runs.append(run_id))
    return runs


@pytest.fixture
def project(redis: Redis, sent: list[str]) -> str:
    return ensure_project(f"responses-{uuid.uuid4().hex}")


def _event_names(run_id: str) -> list[str]:
    entries: Any = get_redis().xrange(redis_keys.run_events(run_id))
    return [fields[b"e"].decode() for _, fields in entries]


def _event_data(run_id: str, name: str) -> Any:
    entries: Any = get_redis().xrange(redis_keys.run_events(run_id))
    return next(json.loads(fields[b"d"]) for _, fields in entries if fields[b"e"].decode() == name)


def _refused(project_id: str, body: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as refused:
        service.create_response(project_id, body)
    return refused.value


def _answer(response_id: str, text: str) -> None:
    """The run writes one message and ends completed, as a worker would."""
    lifecycle.start(response_id)
    with unit_of_work() as conn:
        message = tables.insert(conn, MESSAGES, {
            "project_id": _project_of(conn, response_id), "thread_id": response_id,
            "created_at": now(), "status": "completed", "role": "assistant",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": "", "run_id": response_id, "attachments": [], "metadata": {}})
        tables.insert(conn, STEPS, {
            "project_id": message["project_id"], "run_id": response_id,
            "thread_id": response_id, "assistant_id": "", "created_at": now(),
            "type": "message_creation", "status": "completed",
            "step_details": {"type": "message_creation",
                             "message_creation": {"message_id": message["id"]}}})
    assert lifecycle.end(response_id, "completed", USAGE) is not None


def _project_of(conn: Any, response_id: str) -> str:
    row = conn.execute("SELECT project_id FROM runs WHERE id = %s", (response_id,)).fetchone()
    return str(row["project_id"])


def test_a_response_is_a_run_on_a_thread_of_its_own(project: str, sent: list[str]) -> None:
    store = create_vector_store(project, {"name": "docs"})
    data = create_file(project, io.BytesIO(b"rows"), "data.csv", "assistants")
    created = service.create_response(project, {
        "model": "test-model", "input": "Hello", "instructions": "Be brief.",
        "tools": [
            {"type": "function", "name": "lookup", "parameters": {"type": "object"},
             "strict": True},
            {"type": "file_search", "vector_store_ids": [store["id"]], "max_num_results": 4,
             "ranking_options": {"score_threshold": 0.2}},
            {"type": "code_interpreter",
             "container": {"type": "auto", "file_ids": [data["id"]]}}],
        "tool_choice": {"type": "function", "name": "lookup"},
        "max_output_tokens": 100, "text": {"format": {"type": "json_schema", "name": "a",
                                                      "schema": {"type": "object"}}},
        "reasoning": {"effort": "low"}, "metadata": {"k": "v"}, "stream": True})
    response, run = created.response, created.run
    assert response["id"].startswith("resp_") and run["id"] == response["id"]
    assert run["thread_id"] == response["id"] and run["status"] == "queued"
    assert run["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"},
                                          "strict": True}},
        {"type": "file_search", "file_search": {"max_num_results": 4,
                                                "ranking_options": {"score_threshold": 0.2}}},
        {"type": "code_interpreter"}]
    assert run["tool_resources"] == {"file_search": {"vector_store_ids": [store["id"]]},
                                     "code_interpreter": {"file_ids": [data["id"]]}}
    assert run["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert run["max_completion_tokens"] == 100 and run["reasoning_effort"] == "low"
    assert run["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "a", "schema": {"type": "object"}}}
    assert run["instructions"] == "Be brief."
    assert response["request"]["tools"][1]["vector_store_ids"] == [store["id"]]
    assert response["request"]["text"]["format"]["name"] == "a"
    assert response["store"] is True and response["background"] is False
    assert [item["type"] for item in response["input"]] == ["message"]
    assert response["input"][0]["content"] == [{"type": "input_text", "text": "Hello"}]
    assert response["output"] is None
    assert _event_names(response["id"]) == ["thread.run.created", "thread.run.queued"]
    assert sent == [response["id"]]
    loaded = service.get_response_row(project, response["id"])
    assert loaded.response["id"] == response["id"] and loaded.steps == []


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "m", "input": 3}, "input"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "nope"}]}]},
     "input[0].content[0].type"),
    ({"model": "m", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "m", "tools": [{"type": "file_search"}]}, "tools[0].vector_store_ids"),
    ({"model": "m", "tools": [{"type": "file_search", "vector_store_ids": [],
                               "filters": {"type": "near"}}]}, "tools[0].filters.type"),
    ({"model": "m", "tools": [{"type": "code_interpreter", "container": "sess_1"}]},
     "tools[0].container"),
    ({"model": "m", "tools": [{"type": "code_interpreter", "container": {"type": "x"}}]},
     "tools[0].container.type"),
    ({"model": "m", "previous_response_id": "resp_abc", "conversation": "conv_abc"},
     "conversation"),
    ({"model": "m", "previous_response_id": "run_abc"}, "previous_response_id"),
    ({"model": "m", "background": True, "store": False}, "background"),
    ({"model": "m", "max_output_tokens": 3}, "max_output_tokens"),
    ({"model": "m", "temperature": 3}, "temperature"),
    ({"model": "m", "truncation": "sometimes"}, "truncation"),
    ({"model": "m", "include": ["everything"]}, "include[0]"),
    ({"model": "m", "tool_choice": {"type": "function", "name": "f"}}, "tool_choice.name"),
    ({"model": "m", "text": {"format": {"type": "json_schema", "name": "a"}}},
     "text.format.schema"),
    ({"model": "m", "surprise": 1}, "surprise"),
    ({"model": "m", "prompt": {"id": "pmpt_1"}}, "prompt.id"),
])
def test_bad_bodies_are_refused_naming_the_field(project: str, sent: list[str],
                                                 body: dict[str, Any], param: str) -> None:
    assert _refused(project, body).param == param
    assert sent == []


def test_ids_of_another_project_are_not_there(project: str, sent: list[str]) -> None:
    other = ensure_project(f"responses-{uuid.uuid4().hex}")
    theirs = service.create_response(other, {"model": "m", "input": "x"}).response["id"]
    _answer(theirs, "hi")
    with pytest.raises(NotFoundError) as missing:
        service.create_response(project, {"model": "m", "previous_response_id": theirs})
    assert missing.value.param == "previous_response_id"
    conversation = conversations.create_conversation(other, {})["id"]
    with pytest.raises(NotFoundError) as missing:
        service.create_response(project, {"model": "m", "conversation": {"id": conversation}})
    assert missing.value.param == "conversation"
    store = create_vector_store(other, {"name": "theirs"})
    refused = _refused(project, {"model": "m", "tools": [
        {"type": "function", "name": "f"},
        {"type": "file_search", "vector_store_ids": [store["id"]]}]})
    assert refused.param == "tools[1].vector_store_ids[0]"
    container = "cntr_" + theirs.removeprefix("resp_")
    with pytest.raises(NotFoundError) as missing:
        service.create_response(project, {"model": "m", "tools": [
            {"type": "code_interpreter", "container": container}]})
    assert missing.value.param == "tools[0].container"
    reused = service.create_response(other, {"model": "m", "tools": [
        {"type": "code_interpreter", "container": container}]})
    assert reused.run["tool_resources"] == {
        "code_interpreter": {"container_id": container, "file_ids": []}}
    with pytest.raises(NotFoundError):
        service.get_response_row(project, theirs)
    with pytest.raises(NotFoundError):
        service.delete_response(project, theirs)
    assert service.get_response_row(other, theirs).response["id"] == theirs


def test_a_previous_response_must_have_ended(project: str) -> None:
    first = service.create_response(project, {"model": "m", "input": "x"}).response["id"]
    refused = _refused(project, {"model": "m", "previous_response_id": first})
    assert refused.param == "previous_response_id"
    _answer(first, "hi")
    second = service.create_response(project, {"model": "m", "previous_response_id": first})
    assert second.response["previous_response_id"] == first


def test_the_prompt_bridge_takes_the_assistants_settings(project: str) -> None:
    store = create_vector_store(project, {"name": "docs"})
    assistant = create_assistant(project, {
        "model": "asst-model", "instructions": "From the assistant.", "temperature": 0.5,
        "tools": [{"type": "file_search"}, {"type": "function", "function": {"name": "f"}}],
        "tool_resources": {"file_search": {"vector_store_ids": [store["id"]]}}})
    created = service.create_response(project, {"prompt": {"id": assistant["id"]},
                                                "input": "x", "top_p": 0.9})
    run, echo = created.run, created.response["request"]
    assert run["model"] == "asst-model" and echo["model"] == "asst-model"
    assert run["instructions"] == "From the assistant."
    assert run["temperature"] == 0.5 and run["top_p"] == 0.9
    assert run["tools"] == assistant["tools"]
    assert run["tool_resources"] == {"file_search": {"vector_store_ids": [store["id"]]}}
    assert echo["tools"][0] == {"type": "file_search", "vector_store_ids": [store["id"]]}
    assert echo["tools"][1] == {"type": "function", "name": "f"}
    assert echo["prompt"]["id"] == assistant["id"]
    given = service.create_response(project, {"prompt": {"id": assistant["id"]},
                                              "model": "mine", "instructions": "Mine.",
                                              "tools": []})
    assert given.run["model"] == "mine" and given.run["instructions"] == "Mine."
    assert given.run["tools"] == [] and given.run["tool_resources"] == {}
    with pytest.raises(NotFoundError) as missing:
        service.create_response(project, {"prompt": {"id": "asst_" + "a" * 24}})
    assert missing.value.param == "prompt.id"


def test_the_end_writes_the_output_and_appends_to_the_conversation(project: str) -> None:
    conversation = conversations.create_conversation(
        project, {"items": [{"role": "user", "content": "earlier"}]})["id"]
    response_id = service.create_response(project, {
        "model": "m", "input": "Hello", "conversation": conversation}).response["id"]
    _answer(response_id, "Hi there")
    loaded = service.get_response_row(project, response_id)
    assert loaded.run["status"] == "completed"
    output = loaded.response["output"]
    assert [item["type"] for item in output] == ["message"]
    assert output[0]["content"][0]["text"] == "Hi there"
    items = conversations.list_items(project, conversation, PageQuery(order="asc"), ()).data
    assert [item["id"] for item in items[1:]] == [loaded.response["input"][0]["id"],
                                                  output[0]["id"]]
    assert _event_names(response_id)[-3:] == ["response.output", "thread.run.completed", "done"]
    assert _event_data(response_id, "response.output") == {"output": output}


def test_an_unstored_response_is_never_found_and_goes_when_it_ends(project: str) -> None:
    response_id = service.create_response(project, {"model": "m", "input": "x",
                                                    "store": False}).response["id"]
    with pytest.raises(NotFoundError):
        service.get_response_row(project, response_id)
    _answer(response_id, "hi")
    with reading() as conn:
        for table in ("responses", "runs", "threads", "messages"):
            column = "thread_id" if table == "messages" else "id"
            found = conn.execute(f"SELECT 1 FROM {table} WHERE {column} = %s",
                                 (response_id,)).fetchone()
            assert found is None, table
    assert _event_names(response_id)[-3:] == ["response.output", "thread.run.completed", "done"]
    assert _event_data(response_id, "response.output")["output"][0]["type"] == "message"


def test_only_a_background_response_is_cancelled(project: str) -> None:
    plain = service.create_response(project, {"model": "m", "input": "x"}).response["id"]
    with pytest.raises(InvalidRequestError):
        service.cancel_response(project, plain)
    background = service.create_response(project, {"model": "m", "input": "x",
                                                   "background": True}).response["id"]
    cancelled = service.cancel_response(project, background)
    assert cancelled.run["status"] == "cancelled"
    assert cancelled.response["output"] == []
    assert _event_names(background)[-3:] == ["response.output", "thread.run.cancelled", "done"]
    assert service.cancel_response(project, background).run["status"] == "cancelled"


def test_a_response_end_that_loses_the_compare_and_set_changes_nothing(project: str) -> None:
    # The end's moves and reads go out in one round trip: once a cancel ended the response,
    # a worker's late end must leave the message, the output and the stream as they are.
    response_id = service.create_response(project, {"model": "m", "input": "x",
                                                    "background": True}).response["id"]
    lifecycle.start(response_id)
    with unit_of_work() as conn:
        message = tables.insert(conn, MESSAGES, {
            "project_id": project, "thread_id": response_id, "created_at": now(),
            "status": "in_progress", "role": "assistant", "content": [], "assistant_id": "",
            "run_id": response_id, "attachments": [], "metadata": {}})
        conn.execute("UPDATE runs SET status = 'expired' WHERE id = %s", (response_id,))
    events_before = _event_names(response_id)
    closing = lifecycle.Closing("messages", message["id"], "completed", {"content": []},
                                lambda row: [("thread.message.completed", row["id"])])
    assert lifecycle.end(response_id, "completed", USAGE, closing=[closing]) is None
    loaded = service.get_response_row(project, response_id)
    assert loaded.run["status"] == "expired" and loaded.response["output"] is None
    with reading() as conn:
        assert tables.get(conn, MESSAGES, {"run_id": response_id}, message["id"],
                          "message_id")["status"] == "in_progress"
    assert _event_names(response_id) == events_before


def test_delete_takes_the_run_and_thread_with_it(project: str) -> None:
    response_id = service.create_response(project, {"model": "m", "input": "x"}).response["id"]
    assert service.delete_response(project, response_id) == {
        "id": response_id, "object": "response.deleted", "deleted": True}
    with reading() as conn:
        assert conn.execute("SELECT 1 FROM runs WHERE id = %s", (response_id,)).fetchone() is None
    with pytest.raises(NotFoundError):
        service.delete_response(project, response_id)
    with pytest.raises(InvalidRequestError):
        service.get_response_row(project, "thread_" + "a" * 24)


def test_input_items_page_by_id(project: str) -> None:
    response_id = service.create_response(project, {"model": "m", "input": [
        {"role": "user", "content": f"m{n}"} for n in range(5)]}).response["id"]
    first = service.list_input_items(project, response_id, PageQuery(limit=2), ())
    texts = [item["content"][0]["text"] for item in first.data]
    assert texts == ["m4", "m3"] and first.has_more
    rest = service.list_input_items(project, response_id,
                                    PageQuery(limit=5, after=first.data[-1]["id"]), ())
    assert [item["content"][0]["text"] for item in rest.data] == ["m2", "m1", "m0"]
    assert not rest.has_more
    ascending = service.list_input_items(project, response_id,
                                         PageQuery(limit=2, order="asc",
                                                   before=rest.data[0]["id"]), ())
    assert [item["content"][0]["text"] for item in ascending.data] == ["m0", "m1"]
    with pytest.raises(InvalidRequestError):
        service.list_input_items(project, response_id, PageQuery(after="msg_nope"), ())


def test_the_thread_list_leaves_out_the_threads_of_responses(project: str) -> None:
    thread = create_thread(project, {})
    service.create_response(project, {"model": "m", "input": "x"})
    assert [t["id"] for t in list_threads(project, PageQuery()).data] == [thread["id"]]


def test_a_function_output_must_answer_a_call(project: str) -> None:
    answer = {"type": "function_call_output", "call_id": "call_x", "output": "42"}
    assert _refused(project, {"model": "m", "input": [answer]}).param == "input[0].call_id"
    call = {"type": "function_call", "call_id": "call_x", "name": "f", "arguments": "{}"}
    first = service.create_response(project, {"model": "m", "input": [call, answer]})
    _answer(first.response["id"], "done")
    refused = _refused(project, {"model": "m", "previous_response_id": first.response["id"],
                                 "input": [{**answer, "call_id": "call_y"}]})
    assert refused.param == "input[0].call_id"
    service.create_response(project, {"model": "m", "previous_response_id":
                                      first.response["id"], "input": [answer]})


def test_a_repeated_call_id_does_not_stop_the_conversation(project: str) -> None:
    conversation = conversations.create_conversation(project, {})["id"]
    ids = []
    for _ in range(2):
        response_id = service.create_response(project, {
            "model": "m", "input": "x", "conversation": conversation}).response["id"]
        lifecycle.start(response_id)
        with unit_of_work() as conn:
            tables.insert(conn, STEPS, {
                "project_id": project, "run_id": response_id, "thread_id": response_id,
                "assistant_id": "", "created_at": now(), "type": "tool_calls",
                "status": "completed", "step_details": {"type": "tool_calls", "tool_calls": [
                    {"id": "call_0", "type": "function",
                     "function": {"name": "f", "arguments": "{}", "output": None}}] * 2}})
        assert lifecycle.end(response_id, "completed", USAGE) is not None
        output = service.get_response_row(project, response_id).response["output"]
        ids.extend(item["id"] for item in output)
    assert ids[0] == "fc_0" and len(set(ids)) == 4
    assert all(item_id.startswith("fc_") for item_id in ids)
    items = conversations.list_items(project, conversation, PageQuery(order="asc"), ()).data
    assert [item["id"] for item in items if item["type"] == "function_call"] == ids
