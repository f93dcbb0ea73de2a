"""Responses executed by a real runs worker against the test model: a response is a run on
a thread of its own, its function calls end it (no `requires_action`), the next response
answers them, max_tool_calls bounds the built-in tools, its end writes the output and its
conversation's items, an unstored one leaves nothing behind, and a background one cancels.
"""
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.conversations import service as conversations
from shared.errors import NotFoundError
from shared.files.service import create_file
from shared.projects.api_keys import ensure_project
from shared.responses import service
from shared.runs.states import TERMINAL
from shared.storage.db import reading
from shared.storage.pagination import PageQuery
from shared.vector_stores.files import add_file, list_files
from shared.vector_stores.stores import create_vector_store
from tests.e2e.scripts import script, sent
from tests.support.waiting import wait_for

WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def project(workers: dict[str, Path]) -> str:
    return ensure_project(f"response-runs-{uuid.uuid4().hex}")


def _status(response_id: str) -> str | None:
    with reading() as conn:
        row = conn.execute("SELECT status FROM runs WHERE id = %s", (response_id,)).fetchone()
    return None if row is None else str(row["status"])


def _ended(project_id: str, body: dict[str, Any]) -> service.Loaded:
    response_id = service.create_response(project_id, body).response["id"]
    wait_for(lambda: _status(response_id) in TERMINAL, 60, f"{response_id} ended")
    return service.get_response_row(project_id, response_id)


def test_a_plain_response_answers(project: str) -> None:
    loaded = _ended(project, {"model": "test-model", "input": "Hello there",
                              "instructions": "Be brief."})
    assert loaded.run["status"] == "completed"
    output = loaded.response["output"]
    assert [item["type"] for item in output] == ["message"]
    assert output[0]["content"][0]["text"] == "You said: Hello there"
    assert loaded.run["usage"]["total_tokens"] > 0


def test_function_calls_end_the_response_and_the_next_one_answers_them(
        project: str, model_server: Any) -> None:
    marker = uuid.uuid4().hex
    first = _ended(project, {"model": "test-model", "tools": [WEATHER], "input": script(
        marker=marker, tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])})
    assert first.run["status"] == "completed" and first.run["required_action"] is None
    calls = [item for item in first.response["output"] if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather"
    assert calls[0]["arguments"] == '{"city": "Oslo"}'
    second = _ended(project, {"model": "test-model", "tools": [WEATHER],
                              "previous_response_id": first.response["id"],
                              "input": [{"type": "function_call_output",
                                         "call_id": calls[0]["call_id"], "output": "sunny"}]})
    assert second.response["output"][0]["content"][0]["text"] == "Tool results: sunny"
    last = sent(model_server, marker)[-1]["body"]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool"]
    assert last[1]["tool_calls"][0]["id"] == calls[0]["call_id"]


def test_max_tool_calls_bounds_the_builtin_calls(project: str, model_server: Any) -> None:
    marker = uuid.uuid4().hex
    loaded = _ended(project, {
        "model": "test-model", "max_tool_calls": 1,
        "tools": [{"type": "file_search", "vector_store_ids": []}],
        "input": script(marker=marker, steps=[
            {"tool_calls": [{"name": "file_search", "arguments": {"query": "a"}},
                            {"name": "file_search", "arguments": {"query": "b"}}]},
            {"text": "done"}])})
    assert loaded.run["status"] == "completed"
    searches = [i for i in loaded.response["output"] if i["type"] == "file_search_call"]
    assert len(searches) == 2
    tool_answers = [m["content"] for m in sent(model_server, marker)[-1]["body"]["messages"]
                    if m["role"] == "tool"]
    assert tool_answers[1] == "Not run: the response's max_tool_calls is reached."
    assert "Not run" not in tool_answers[0]
    # The bound reached, the model is offered no built-in tool any more.
    assert "tools" not in sent(model_server, marker)[-1]["body"]


def test_the_conversation_gets_the_input_and_output(project: str) -> None:
    conversation = conversations.create_conversation(project, {})["id"]
    first = _ended(project, {"model": "test-model", "input": "one",
                             "conversation": conversation})
    second = _ended(project, {"model": "test-model", "input": "two",
                              "conversation": conversation})
    assert second.response["output"][0]["content"][0]["text"] == "You said: two"
    items = conversations.list_items(project, conversation, PageQuery(order="asc"), ()).data
    assert [item["id"] for item in items] == [
        first.response["input"][0]["id"], first.response["output"][0]["id"],
        second.response["input"][0]["id"], second.response["output"][0]["id"]]


def test_an_unstored_response_leaves_nothing(project: str) -> None:
    response_id = service.create_response(project, {"model": "test-model", "input": "x",
                                                    "store": False}).response["id"]
    wait_for(lambda: _status(response_id) is None, 60, f"{response_id} forgotten")
    with pytest.raises(NotFoundError):
        service.get_response_row(project, response_id)


def test_a_background_response_is_cancelled_mid_answer(project: str) -> None:
    response_id = service.create_response(project, {
        "model": "test-model", "background": True,
        "input": script(hang=True, chunk_delay_ms=50)}).response["id"]
    wait_for(lambda: _status(response_id) == "in_progress", 60, "the response started")
    service.cancel_response(project, response_id)
    wait_for(lambda: _status(response_id) == "cancelled", 60, "the response cancelled")
    loaded = service.get_response_row(project, response_id)
    assert loaded.response["output"] is not None


def test_the_options_reach_the_model_and_max_output_tokens_bounds_it(
        project: str, model_server: Any) -> None:
    marker = uuid.uuid4().hex
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    loaded = _ended(project, {
        "model": "test-model", "instructions": "Answer in JSON.", "temperature": 0.2,
        "top_p": 0.9, "reasoning": {"effort": "low"}, "max_output_tokens": 16,
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": schema,
                            "strict": True}},
        "input": [{"role": "developer", "content": "Rules."},
                  {"role": "user", "content": script(marker=marker, tokens=40)}]})
    assert loaded.run["status"] == "incomplete"
    assert loaded.run["incomplete_details"] == {"reason": "max_completion_tokens"}
    body = sent(model_server, marker)[-1]["body"]
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user"]
    assert body["messages"][0]["content"] == "Answer in JSON."
    assert (body["temperature"], body["top_p"], body["reasoning_effort"]) == (0.2, 0.9, "low")
    assert body["max_completion_tokens"] == 16
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": schema, "strict": True}}
    message = loaded.response["output"][0]
    assert message["status"] == "incomplete"
    assert message["content"][0]["text"] == " ".join(f"tok{i}" for i in range(16)) + " "


def _code(project_id: str, code: str, container: Any) -> service.Loaded:
    return _ended(project_id, {
        "model": "test-model", "tools": [{"type": "code_interpreter", "container": container}],
        "input": script(steps=[{"tool_calls": [{"name": "code_interpreter",
                                                "arguments": {"code": code}}]},
                               {"text": "ran"}])})


def test_a_named_container_is_that_responses_sandbox(project: str) -> None:
    first = _code(project, "kept = 6 * 7", {"type": "auto"})
    container = "cntr_" + first.response["id"].removeprefix("resp_")
    second = _code(project, "print(kept)", container)
    call = next(i for i in second.response["output"] if i["type"] == "code_interpreter_call")
    assert call["outputs"] == [{"type": "logs", "logs": "42\n"}]
    fresh = _code(project, "print('kept' in globals())", {"type": "auto"})
    call = next(i for i in fresh.response["output"] if i["type"] == "code_interpreter_call")
    assert call["outputs"] == [{"type": "logs", "logs": "False\n"}]


def test_file_search_takes_the_tools_filters(project: str, model_server: Any) -> None:
    store = create_vector_store(project, {"name": "reports"})
    for name, region in (("north.md", "north"), ("south.md", "south")):
        file = create_file(project, io.BytesIO(f"Sales in the {region} grew.".encode()),
                           name, "assistants")
        add_file(project, store["id"], {"file_id": file["id"], "attributes": {"region": region}})
    wait_for(lambda: len(list_files(project, store["id"], PageQuery(), "completed").data) == 2,
             60, "the files indexed")
    marker = uuid.uuid4().hex
    loaded = _ended(project, {
        "model": "test-model", "include": ["file_search_call.results"],
        "tools": [{"type": "file_search", "vector_store_ids": [store["id"]],
                   "filters": {"type": "eq", "key": "region", "value": "south"}}],
        "input": script(marker=marker, steps=[
            {"tool_calls": [{"name": "file_search", "arguments": {"query": "sales grew"}}]},
            {"text": "done"}])})
    search = next(i for i in loaded.response["output"] if i["type"] == "file_search_call")
    assert [r["filename"] for r in search["results"]] == ["south.md"]
