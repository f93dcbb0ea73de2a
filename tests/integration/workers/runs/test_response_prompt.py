"""A response's prompt (`workers.runs.prompt.build`) over real rows: the previous responses'
input and output oldest first, or the conversation's items, then the response's own input.

Sending the run's task is recorded instead of sent, so no worker takes these runs up; their
ends are driven through the lifecycle, which writes each response's output.
"""
import io
import json
import uuid
from typing import Any

import pytest

from shared.clock import now
from shared.conversations import service as conversations
from shared.files.service import create_file
from shared.platform import tasks
from shared.projects.api_keys import ensure_project
from shared.responses import service
from shared.responses.requests import parse_count_request
from shared.runs import lifecycle
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.repository import MESSAGES, STEPS
from workers.runs import prompt
from workers.runs.tools import resources as tool_resources

USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


@pytest.fixture
def project(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(tasks, "send_run", lambda run_id, thread_id=None: None)
    return ensure_project(f"response-prompt-{uuid.uuid4().hex}")


def _answered(project_id: str, body: dict[str, Any], text: str) -> str:
    """A response whose run wrote `text` and completed, as a worker would."""
    response_id = service.create_response(project_id, body).response["id"]
    lifecycle.start(response_id)
    with unit_of_work() as conn:
        message = tables.insert(conn, MESSAGES, {
            "project_id": project_id, "thread_id": response_id, "created_at": now(),
            "status": "completed", "role": "assistant",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": "", "run_id": response_id, "attachments": [], "metadata": {}})
        tables.insert(conn, STEPS, {
            "project_id": project_id, "run_id": response_id, "thread_id": response_id,
            "assistant_id": "", "created_at": now(), "type": "message_creation",
            "status": "completed", "step_details": {
                "type": "message_creation", "message_creation": {"message_id": message["id"]}}})
    assert lifecycle.end(response_id, "completed", USAGE) is not None
    return response_id


def _prompt(project_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    run = service.create_response(project_id, body).run
    with reading() as conn:
        return prompt.build(conn, run).messages


def test_a_chain_of_responses_is_the_history(project: str) -> None:
    first = _answered(project, {"model": "m", "input": "One?", "instructions": "Old."}, "1")
    second = _answered(project, {"model": "m", "input": "Two?",
                                 "previous_response_id": first}, "2")
    assert _prompt(project, {"model": "m", "input": "Three?", "instructions": "New.",
                             "previous_response_id": second}) == [
        {"role": "system", "content": "New."},
        {"role": "user", "content": "One?"}, {"role": "assistant", "content": "1"},
        {"role": "user", "content": "Two?"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": "Three?"}]


def test_a_conversation_is_the_history(project: str) -> None:
    notes = create_file(project, io.BytesIO(b"the notes"), "notes.md", "user_data")
    conversation = conversations.create_conversation(
        project, {"items": [{"role": "developer", "content": "Be kind."}]})["id"]
    _answered(project, {"model": "m", "conversation": conversation, "input": "Hi"}, "Hello")
    assert _prompt(project, {"model": "m", "conversation": {"id": conversation}, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Read:"},
                                     {"type": "input_file", "file_id": notes["id"]}]}]}) == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Read:\n[file notes.md]\nthe notes"}]


def test_disabled_truncation_ends_a_history_too_long(project: str) -> None:
    long = " ".join(["word"] * 400)
    # A run's prompt budget: a response has none of its own but the model's context.
    run = {**service.create_response(project, {"model": "m", "input": long}).run,
           "max_prompt_tokens": 50}
    with reading() as conn, pytest.raises(prompt.PromptTooLongError):
        prompt.build(conn, run)


def test_a_count_is_what_the_created_responses_first_call_sends(project: str) -> None:
    """`prompt.input_tokens` for a body not created, against the request the loop makes for
    the response created with it: its prompt, its tools (a sandbox file named in
    code_interpreter's description) and its format."""
    data = create_file(project, io.BytesIO(b"a,b\n1,2\n"), "data.csv", "user_data")
    notes = create_file(project, io.BytesIO(b"the notes"), "notes.md", "user_data")
    conversation = conversations.create_conversation(
        project, {"items": [{"role": "developer", "content": "Be kind."}]})["id"]
    _answered(project, {"model": "m", "conversation": conversation, "input": "Hi"}, "Hello")
    body = {"model": "m", "conversation": conversation, "instructions": "Use the data.",
            "text": {"format": {"type": "json_object"}},
            "tools": [{"type": "code_interpreter",
                       "container": {"type": "auto", "file_ids": [data["id"]]}},
                      {"type": "function", "name": "lookup", "description": "Look it up."}],
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "Read:"},
                {"type": "input_file", "file_id": notes["id"]}]}]}
    request = parse_count_request(body)
    history = prompt.ResponseHistory(None, conversation, request.input, "disabled")
    with reading() as conn:
        counted = prompt.input_tokens(conn, request.run, history)
    run = service.create_response(project, body).run
    with reading() as conn:
        built = prompt.build(conn, run)
        sent = prompt.chat_request(run, built, lambda: tool_resources.load(conn, run),
                                   None, None)
    assert "/mnt/data/data.csv" in json.dumps(sent["tools"])
    assert counted == prompt.request_tokens(built, sent) > built.tokens


def test_the_response_row_read_already_is_the_one_used(project: str) -> None:
    created = service.create_response(project, {"model": "m", "input": "Hi"})
    with reading() as conn:
        assert prompt.build(conn, created.run).messages == [{"role": "user", "content": "Hi"}]
        given = {**created.response, "input": [
            {**created.response["input"][0],
             "content": [{"type": "input_text", "text": "Bye"}]}]}
        assert prompt.build(conn, created.run, response=given).messages == [
            {"role": "user", "content": "Bye"}]
