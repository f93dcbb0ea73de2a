"""Usage on the wire: a run's is null until it ends, a step's while it is in progress.

A function-calling run parks in `requires_action` with the first model call's usage already
stored (the run loop reads it back to keep counting); the wire shows null all the same, on
GET, in lists and in events, until the run completes.
"""
import json
import uuid
from typing import Any

import openai
import pytest

from tests.e2e.events import read_events

pytestmark = pytest.mark.usefixtures("workers")

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}
# The model calls the function, then (given its output) answers slowly enough to be seen
# in_progress: 30 tokens, 60 ms apart.
SLOW_ANSWER = {"tokens": 30, "chunk_delay_ms": 60}


def script(**plan: Any) -> str:
    return f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(plan)


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])


@pytest.fixture
def thread(client: openai.OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": script(steps=[
        {"tool_calls": [{"name": "lookup", "arguments": {"q": "usage"}}]}, SLOW_ANSWER])}])


def assert_parked_without_usage(client: openai.OpenAI, thread_id: str, run_id: str) -> Any:
    """The parked run and its tool step, by GET and in lists: usage null."""
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert run.status == "requires_action" and run.usage is None
    [listed] = client.beta.threads.runs.list(thread_id).data
    assert listed.status == "requires_action" and listed.usage is None
    [step] = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id).data
    assert step.type == "tool_calls" and step.status == "in_progress" and step.usage is None
    fetched = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread_id,
                                                      run_id=run_id)
    assert fetched.usage is None
    return run


def assert_completed_with_usage(client: openai.OpenAI, thread_id: str, run_id: str) -> None:
    """Once completed, the run's usage counts both model calls, the one before the park
    too: it is the sum of its steps' usage, each set."""
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert run.status == "completed" and run.usage is not None
    [listed] = client.beta.threads.runs.list(thread_id).data
    assert listed.usage == run.usage
    steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [("tool_calls", "completed"),
                                                   ("message_creation", "completed")]
    assert all(s.usage is not None and s.usage.total_tokens > 0 for s in steps)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert getattr(run.usage, name) == sum(getattr(s.usage, name) for s in steps), name


def assert_events_show_usage_only_when_settled(api_base: str, api_key: str, thread_id: str,
                                               run_id: str) -> None:
    """Every run event of the run's whole life (the events extension replays them): usage
    null unless the run ended; every step event: null while the step is in progress."""
    found = read_events(api_base, api_key, thread_id, run_id)
    runs = [e["data"] for e in found if e["event"].removeprefix("thread.run.") in
            {"created", "queued", "in_progress", "requires_action", "completed"}]
    assert [r["status"] for r in runs] == ["queued", "queued", "in_progress",
                                           "requires_action", "queued", "in_progress",
                                           "completed"]
    for run in runs:
        assert "usage" in run
        assert (run["usage"] is None) == (run["status"] not in TERMINAL), run
    steps = [e["data"] for e in found if e["event"].startswith("thread.run.step.")
             and e["event"] != "thread.run.step.delta"]
    assert {s["status"] for s in steps} == {"in_progress", "completed"}
    for step in steps:
        assert "usage" in step
        assert (step["usage"] is None) == (step["status"] == "in_progress"), step


def test_usage_null_until_completed_through_polling(client: openai.OpenAI, assistant: Any,
                                                    thread: Any, api_base: str,
                                                    api_key: str) -> None:
    created = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert created.status == "queued" and created.usage is None
    run = client.beta.threads.runs.poll(created.id, thread_id=thread.id)
    assert run.status == "requires_action" and run.usage is None
    assert_parked_without_usage(client, thread.id, run.id)

    assert run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    queued = client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "7"}])
    assert queued.status == "queued" and queued.usage is None

    seen = set()
    while True:
        now = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        seen.add(now.status)
        if now.status in TERMINAL:
            break
        assert now.usage is None, now.status
        [listed] = client.beta.threads.runs.list(thread.id).data
        assert listed.usage is None or listed.status in TERMINAL
    assert "in_progress" in seen and now.status == "completed"
    assert_completed_with_usage(client, thread.id, run.id)
    assert_events_show_usage_only_when_settled(api_base, api_key, thread.id, run.id)


def test_usage_null_until_completed_through_streams(client: openai.OpenAI, assistant: Any,
                                                    thread: Any, api_base: str,
                                                    api_key: str) -> None:
    with client.beta.threads.runs.stream(thread_id=thread.id,
                                         assistant_id=assistant.id) as stream:
        events = list(stream)
    parked = [e.data for e in events if e.event == "thread.run.requires_action"]
    assert len(parked) == 1 and parked[0].usage is None
    run = stream.get_final_run()
    assert run.status == "requires_action" and run.usage is None
    assert all(e.data.usage is None for e in events
               if e.event in ("thread.run.step.created", "thread.run.step.in_progress"))
    assert_parked_without_usage(client, thread.id, run.id)

    assert run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    names: list[str] = []
    while_answering: list[Any] = []
    with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "7"}]) as after:
        for event in after:
            names.append(event.event)
            if event.event in ("thread.run.queued", "thread.run.in_progress"):
                assert event.data.usage is None, event.event
            elif event.event == "thread.run.step.completed":
                assert event.data.usage is not None and event.data.usage.total_tokens > 0
            elif event.event == "thread.run.step.in_progress":
                assert event.data.usage is None
            elif event.event == "thread.message.delta" and not while_answering:
                # The model is answering: the run is in progress, on GET and in lists.
                while_answering = [
                    client.beta.threads.runs.retrieve(run.id, thread_id=thread.id),
                    *client.beta.threads.runs.list(thread.id).data,
                    client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0],
                ]
            elif event.event == "thread.run.completed":
                assert event.data.usage is not None and event.data.usage.total_tokens > 0
        final = after.get_final_run()
    assert names[:3] == ["thread.run.step.completed", "thread.run.queued",
                         "thread.run.in_progress"]
    assert names[-1] == "thread.run.completed"
    got, listed, step = while_answering
    assert (got.status, got.usage) == ("in_progress", None)
    assert (listed.status, listed.usage) == ("in_progress", None)
    assert (step.type, step.status, step.usage) == ("message_creation", "in_progress", None)
    assert final.status == "completed" and final.usage is not None
    assert_completed_with_usage(client, thread.id, run.id)
    assert final.usage == client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).usage
    assert_events_show_usage_only_when_settled(api_base, api_key, thread.id, run.id)
