"""Treadle holds the run's limits itself, whatever the model does with them: the completion
and prompt budgets over the whole run, `parallel_tool_calls: false` and a `tool_choice` naming
one tool. The scripted model server is told to ignore `max_tokens` and to answer with calls
the run does not allow, as many OpenAI-compatible servers do."""
import json
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.scripts import WEATHER_TOOL, script, sent
from workers.tokens import count

pytestmark = pytest.mark.usefixtures("workers")

LOOKUP_TOOL = {"type": "function", "function": {
    "name": "lookup", "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}},
                   "required": ["word"]}}}


def scripted(**plan: Any) -> tuple[str, str]:
    """A SCRIPT message, and the nonce in it that finds its chat requests (`sent`)."""
    nonce = uuid.uuid4().hex
    return script(**plan, nonce=nonce), nonce


def answer(count_of: int) -> str:
    """The model server's answer of `tokens=count_of`."""
    return " ".join(f"tok{i}" for i in range(count_of))


def message_deltas(events: list[Any]) -> str:
    return "".join(part.text.value or "" for e in events if e.event == "thread.message.delta"
                   for part in e.data.delta.content or [] if part.type == "text")


def step_delta_calls(events: list[Any]) -> list[Any]:
    return [call for e in events if e.event == "thread.run.step.delta"
            for call in e.data.delta.step_details.tool_calls or []]


@pytest.fixture
def runs_log(workers: dict[str, Path]) -> Path:
    return workers["runs"]


# --------------------------------------------------------------------------- completion budget

def test_a_model_ignoring_max_tokens_is_cut_at_max_completion_tokens(
        client: openai.OpenAI, model_server: Any) -> None:
    assistant = client.beta.assistants.create(model="test-model")
    # Paced, so the server is still writing when Treadle closes the stream.
    content, nonce = scripted(tokens=400, ignore_max_tokens=True, chunk_delay_ms=5)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    events = list(client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256,
        stream=True))

    run = events[-1].data
    assert events[-1].event == "thread.run.incomplete", [e.event for e in events]
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens <= 256
    [message] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    text = message.content[0].text.value
    assert text and answer(400).startswith(text)
    assert count(text) <= 256
    # The stream showed no more than the message keeps.
    assert message_deltas(events) == text
    # The model was asked to stop at 256, ignored it, and Treadle closed its stream.
    [request] = sent(model_server, nonce)
    assert request["body"]["max_completion_tokens"] == 256
    assert request["disconnected"] and not request["completed"]


def test_the_completion_budget_spans_the_runs_model_calls(
        client: openai.OpenAI, model_server: Any) -> None:
    """A tool round, then an answer from a model ignoring the budget left to it."""
    assistant = client.beta.assistants.create(model="test-model", tools=[WEATHER_TOOL])
    content, nonce = scripted(steps=[
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"tokens": 400, "ignore_max_tokens": True}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=300)
    assert run.status == "requires_action", (run.last_error, run.incomplete_details)
    [call] = run.required_action.submit_tool_outputs.tool_calls
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])

    assert done.status == "incomplete", done.last_error
    assert done.incomplete_details is not None
    assert done.incomplete_details.reason == "max_completion_tokens"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    first = steps[0].usage
    assert first is not None and first.completion_tokens > 0
    left = 300 - first.completion_tokens
    assert [r["body"]["max_completion_tokens"] for r in sent(model_server, nonce)] == [
        300, left]
    assert done.usage is not None
    assert first.completion_tokens < done.usage.completion_tokens <= 300
    [message] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert message.status == "incomplete"
    text = message.content[0].text.value
    assert text and answer(400).startswith(text)
    assert count(text) <= left


# --------------------------------------------------------------------------- prompt budget

def test_max_prompt_tokens_holds_for_every_model_call(
        client: openai.OpenAI, model_server: Any) -> None:
    """The first call's prompt fits; the tool output makes the next one too long, so the
    run ends before sending it."""
    assistant = client.beta.assistants.create(model="test-model", tools=[WEATHER_TOOL])
    content, nonce = scripted(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256)
    assert run.status == "requires_action", (run.last_error, run.incomplete_details)
    [call] = run.required_action.submit_tool_outputs.tool_calls
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "rain " * 300}])

    assert done.status == "incomplete", done.last_error
    assert done.incomplete_details is not None
    assert done.incomplete_details.reason == "max_prompt_tokens"
    assert len(sent(model_server, nonce)) == 1, "the too long prompt is never sent"
    assert client.beta.threads.messages.list(thread.id, run_id=run.id).data == []


# --------------------------------------------------------------------------- tool calls

def test_parallel_tool_calls_false_acts_on_the_first_call(
        client: openai.OpenAI, model_server: Any, runs_log: Path) -> None:
    assistant = client.beta.assistants.create(model="test-model", tools=[WEATHER_TOOL])
    content, nonce = scripted(tool_calls=[{"name": "get_weather", "arguments": {"city": city}}
                                 for city in ("Paris", "Oslo")])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    events = list(client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, parallel_tool_calls=False,
        stream=True))

    run = events[-1].data
    assert run.status == "requires_action", [e.event for e in events]
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # The step and its deltas show the one call the run acts on.
    assert {c.index for c in step_delta_calls(events)} == {0}
    assert "Oslo" not in json.dumps([c.model_dump() for c in step_delta_calls(events)])
    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [c.id for c in step.step_details.tool_calls] == [call.id]
    assert [line for line in runs_log.read_text(errors="replace").splitlines()
            if f"run {run.id}" in line and "leaving out" in line]

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert done.status == "completed", done.last_error
    # The next model call is told of the one call only.
    replayed = sent(model_server, nonce)[-1]["body"]["messages"]
    assert [len(m["tool_calls"]) for m in replayed if m.get("tool_calls")] == [1]


def test_tool_choice_naming_a_function_acts_only_on_its_calls(
        client: openai.OpenAI, model_server: Any, runs_log: Path) -> None:
    assistant = client.beta.assistants.create(model="test-model",
                                              tools=[WEATHER_TOOL, LOOKUP_TOOL])
    content, nonce = scripted(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}},
                                 {"name": "lookup", "arguments": {"word": "treadle"}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "lookup"}})

    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"word": "treadle"}
    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [c.function.name for c in step.step_details.tool_calls] == ["lookup"]
    [request] = sent(model_server, nonce)
    assert request["body"]["tool_choice"] == {"type": "function",
                                              "function": {"name": "lookup"}}
    logged = [line for line in runs_log.read_text(errors="replace").splitlines()
              if f"run {run.id}" in line and "leaving out" in line]
    assert len(logged) == 1 and "get_weather" in logged[0]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
