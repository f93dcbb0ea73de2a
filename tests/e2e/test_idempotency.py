"""Idempotency-Key on POSTs, and an error answer meaning nothing happened: a run whose task
could not be sent is still answered 200 and executed once, by the timers' recovery."""
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from shared.idempotency import service as idempotency
from shared.projects.api_keys import project_for_key
from tests.conftest import free_port, start_process, stop_processes, wait_until_healthy
from tests.e2e.scripts import WEATHER_TOOL, script, sent

pytestmark = pytest.mark.usefixtures("workers")


def keyed(key: str) -> dict[str, Any]:
    return {"extra_headers": {"Idempotency-Key": key}}


def test_a_retry_gets_the_first_answer(client: openai.OpenAI) -> None:
    key = uuid.uuid4().hex
    first = client.beta.threads.with_raw_response.create(metadata={"n": "1"}, **keyed(key))
    again = client.beta.threads.with_raw_response.create(metadata={"n": "1"}, **keyed(key))
    assert again.parse().id == first.parse().id
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.http_response.json() == first.http_response.json()
    # Without a key, or with another, a second thread is made.
    assert client.beta.threads.create(metadata={"n": "1"}).id != first.parse().id


def test_the_same_key_for_another_request_is_a_409(client: openai.OpenAI) -> None:
    key = uuid.uuid4().hex
    thread = client.beta.threads.create(metadata={"n": "1"}, **keyed(key))
    for call in (lambda: client.beta.threads.create(metadata={"n": "2"}, **keyed(key)),
                 lambda: client.beta.threads.messages.create(thread.id, role="user",
                                                             content="hi", **keyed(key))):
        with pytest.raises(openai.ConflictError) as refused:
            call()
        assert refused.value.code == "idempotency_key_reused"
        assert refused.value.type == "invalid_request_error"
    assert client.beta.threads.messages.list(thread.id).data == []


def test_keys_belong_to_their_project(client: openai.OpenAI,
                                      other_client: openai.OpenAI) -> None:
    key = uuid.uuid4().hex
    mine = client.beta.threads.create(**keyed(key))
    theirs = other_client.beta.threads.create(**keyed(key))
    assert mine.id != theirs.id


def test_a_key_in_progress_is_a_409(client: openai.OpenAI, api_key: str) -> None:
    key = uuid.uuid4().hex
    # Another request holds the key: claimed, no answer yet.
    assert isinstance(idempotency.begin(project_for_key(api_key) or "", key, "elsewhere"),
                      idempotency.Claim)
    with pytest.raises(openai.ConflictError) as refused:
        client.beta.threads.create(**keyed(key))
    assert refused.value.code == "idempotency_key_in_use"


def test_an_error_answer_frees_its_key(client: openai.OpenAI, api_key: str) -> None:
    key = uuid.uuid4().hex
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(thread.id, assistant_id="asst_" + "a" * 24,
                                        **keyed(key))
    # Nothing was kept: the key is free for any request.
    assert isinstance(idempotency.begin(project_for_key(api_key) or "", key, "any"),
                      idempotency.Claim)


def test_a_run_create_retried_runs_once(client: openai.OpenAI, model_server: Any) -> None:
    marker = uuid.uuid4().hex
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": marker}])
    key = uuid.uuid4().hex
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, **keyed(key))
    again = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, **keyed(key))
    assert again.id == run.id
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "completed", done.last_error
    assert len(sent(model_server, marker)) == 1


def streamed(api_base: str, api_key: str, path: str, body: dict[str, Any], key: str
             ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A streamed create by raw HTTP: its headers and (event, data) pairs to `done`."""
    request = urllib.request.Request(
        f"{api_base}/v1{path}", data=json.dumps({**body, "stream": True}).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                 "Idempotency-Key": key}, method="POST")
    found: list[tuple[str, str]] = []
    with urllib.request.urlopen(request, timeout=60) as response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        name = ""
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append((name, line[6:]))
    return headers, found


def test_a_streamed_create_retried_replays_its_stream(api_base: str, api_key: str,
                                                      client: openai.OpenAI,
                                                      model_server: Any) -> None:
    marker = uuid.uuid4().hex
    assistant = client.beta.assistants.create(model="test-model")
    body = {"assistant_id": assistant.id,
            "thread": {"messages": [{"role": "user", "content": marker}]}}
    key = uuid.uuid4().hex
    _, first = streamed(api_base, api_key, "/threads/runs", body, key)
    headers, again = streamed(api_base, api_key, "/threads/runs", body, key)
    assert headers["idempotent-replayed"] == "true"
    assert again == first
    assert [name for name, _ in first][:3] == ["thread.created", "thread.run.created",
                                               "thread.run.queued"]
    assert first[-2][0] == "thread.run.completed" and first[-1][0] == "done"
    assert len(sent(model_server, marker)) == 1


@pytest.fixture
def brokerless_api(server_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """An API process of the session's database and Redis whose broker is a closed port:
    every task it sends fails, after the run it is for has committed."""
    port = free_port()
    env = {**server_env, "TREADLE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    process = start_process(["api", "--port", str(port)], env, tmp_path / "api.log")
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_processes([process])


def test_a_run_whose_task_was_not_sent_is_answered_200_and_runs_once(
        brokerless_api: str, api_key: str, client: openai.OpenAI, model_server: Any) -> None:
    brokerless = openai.OpenAI(base_url=f"{brokerless_api}/v1", api_key=api_key,
                               max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    marker, streamed_marker = uuid.uuid4().hex, uuid.uuid4().hex
    thread = client.beta.threads.create(messages=[{"role": "user", "content": marker}])
    run = brokerless.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert run.status == "queued"
    # A streamed create answers 200 too; its stream follows the run once the timers send it.
    _, events = streamed(brokerless_api, api_key, "/threads/runs", {
        "assistant_id": assistant.id,
        "thread": {"messages": [{"role": "user", "content": streamed_marker}]}},
        uuid.uuid4().hex)
    assert [name for name, _ in events][-2:] == ["thread.run.completed", "done"]
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "completed", done.last_error
    assert len(sent(model_server, marker)) == 1
    assert len(sent(model_server, streamed_marker)) == 1


def test_outputs_whose_task_was_not_sent_are_answered_200_and_the_run_goes_on(
        brokerless_api: str, api_key: str, client: openai.OpenAI, model_server: Any) -> None:
    brokerless = openai.OpenAI(base_url=f"{brokerless_api}/v1", api_key=api_key,
                               max_retries=0)
    assistant = client.beta.assistants.create(model="test-model", tools=[WEATHER_TOOL])
    marker = uuid.uuid4().hex
    asks = script(steps=[{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                         {"text": "sunny"}])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": f"{asks}\n{marker}"}]})
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    resumed = brokerless.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "+20"}])
    assert resumed.status == "queued"
    done = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
    assert done.status == "completed", done.last_error
    assert len(sent(model_server, marker)) == 2


def test_an_upload_retried_is_stored_once(client: openai.OpenAI) -> None:
    key = uuid.uuid4().hex
    content = uuid.uuid4().bytes * 40_000  # past werkzeug's in-memory spool
    first = client.files.create(file=("a.txt", content), purpose="assistants", **keyed(key))
    again = client.files.create(file=("a.txt", content), purpose="assistants", **keyed(key))
    assert again.id == first.id
    with pytest.raises(openai.ConflictError):
        client.files.create(file=("a.txt", content[:-1]), purpose="assistants", **keyed(key))
    assert client.files.content(first.id).content == content
