"""Cancel, expiry, the cancel/complete race and late attach, with real workers."""
import contextlib
import functools
import json
import time
import urllib.error
import uuid
from typing import Any

import openai
import pytest

from tests.conftest import RUN_EXPIRY_SECONDS
from tests.e2e.events import read_events
from tests.support import waiting

pytestmark = pytest.mark.usefixtures("workers")

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}


def script(**plan: Any) -> str:
    return f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(plan)


# Polled often: the cancel tests act while a run is still streaming.
wait_for = functools.partial(waiting.wait_for, seconds=30, every=0.05)


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])


def test_cancel_reaches_the_model_stream(client: openai.OpenAI, assistant: Any,
                                         model_server: Any) -> None:
    text = script(hang=True, chunk_delay_ms=20, hang_s=30)
    marker = text.split("\n")[0]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)

    def streaming() -> bool:
        messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
        return bool(messages)

    wait_for(streaming)
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = wait_for(lambda: (r := client.beta.threads.runs.retrieve(
        run.id, thread_id=thread.id)).status in TERMINAL and r)
    assert final.status == "cancelled" and final.cancelled_at is not None

    def closed() -> bool:
        calls = [r for r in model_server.requests("/v1/chat/completions")
                 if marker in json.dumps(r["body"])]
        return bool(calls) and calls[0]["disconnected"] and not calls[0]["completed"]

    wait_for(closed, seconds=5)
    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value.startswith("You said: ")
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled"
    client.beta.threads.messages.create(thread.id, role="user", content="free again")


def test_cancel_racing_completion_ends_once(client: openai.OpenAI, assistant: Any,
                                           api_base: str, api_key: str) -> None:
    for delay in (0, 0.01, 0.03, 0.06, 0.1, 0.2):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
            tokens=20, chunk_delay_ms=5)}])
        run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
        time.sleep(delay)
        # A run that already ended refuses the cancel with a 400.
        with contextlib.suppress(openai.BadRequestError):
            client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        found = read_events(api_base, api_key, thread.id, run.id)
        terminal = [e["event"] for e in found
                    if e["event"].removeprefix("thread.run.") in TERMINAL]
        assert len(terminal) == 1, terminal
        final = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert final.status in ("completed", "cancelled")
        assert terminal == [f"thread.run.{final.status}"]
        assert found[-1]["event"] == "done"


def test_requires_action_expires(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action"
    assert run.expires_at == run.created_at + RUN_EXPIRY_SECONDS
    expired = wait_for(lambda: (r := client.beta.threads.runs.retrieve(
        run.id, thread_id=thread.id)).status == "expired" and r,
        seconds=RUN_EXPIRY_SECONDS + 15, every=0.2)
    assert expired.expires_at is None and expired.required_action is None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "expired" and step.expired_at is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "x"}])


def test_late_attach_replays_and_follows(client: openai.OpenAI, assistant: Any,
                                         api_base: str, api_key: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=30, chunk_delay_ms=20)}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    wait_for(lambda: client.beta.threads.messages.list(thread.id, run_id=run.id).data)
    found = read_events(api_base, api_key, thread.id, run.id)
    names = [e["event"] for e in found]
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-2:] == ["thread.run.completed", "done"]
    text = "".join(part["text"]["value"] for e in found if e["event"] == "thread.message.delta"
                   for part in e["data"]["delta"]["content"])
    assert text == " ".join(f"tok{i}" for i in range(30))
    resumed = read_events(api_base, api_key, thread.id, run.id, last_event_id=found[5]["id"])
    assert [e["id"] for e in resumed] == [e["id"] for e in found[6:]]


@pytest.mark.parametrize("bad", ["$", "abc", "1-2-3", "9" * 30 + "-0"])
def test_a_malformed_last_event_id_is_a_400(client: openai.OpenAI, assistant: Any,
                                            api_base: str, api_key: str, bad: str) -> None:
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(urllib.error.HTTPError) as refused:
        read_events(api_base, api_key, run.thread_id, run.id, last_event_id=bad)
    assert refused.value.code == 400
    error = json.loads(refused.value.read())["error"]
    assert error["param"] == "Last-Event-ID" and "Invalid 'Last-Event-ID'" in error["message"]


def test_events_of_a_function_run_span_its_stretches(client: openai.OpenAI, assistant: Any,
                                                     api_base: str, api_key: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "lookup", "arguments": {"q": "y"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "42"}])
    names = [e["event"] for e in read_events(api_base, api_key, thread.id, run.id)]
    assert "thread.run.requires_action" in names
    assert names.index("thread.run.requires_action") < names.index("thread.run.completed")
    assert names[-2:] == ["thread.run.completed", "done"]


def test_other_projects_cannot_follow_events(other_client: openai.OpenAI, client: openai.OpenAI,
                                             assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    with pytest.raises(openai.NotFoundError):
        other_client.get(f"/threads/{thread.id}/runs/{run.id}/events", cast_to=object)
