"""The run engine honours every run option, end to end: the SDK, the API, real workers and
the scripted Chat Completions server, whose recorded requests show what the worker sent."""
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.beta.assistant_tool_choice import AssistantToolChoice
from openai.types.beta.function_tool import FunctionTool
from openai.types.beta.threads.run import Run, TruncationStrategy
from openai.types.shared import ResponseFormatJSONObject, ResponseFormatJSONSchema

from tests.e2e.scripts import WEATHER_TOOL, script, sent

pytestmark = pytest.mark.usefixtures("workers")

def tag() -> str:
    return uuid.uuid4().hex


def make_assistant(client: openai.OpenAI, **extra: Any) -> Any:
    fields: dict[str, Any] = {"model": "test-model",
                              "instructions": "You are a personal math tutor."}
    fields.update(extra)
    return client.beta.assistants.create(**fields)


def dumped(value: Any) -> Any:
    """An SDK model (or a plain value) as plain JSON, unset fields left out."""
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, exclude_unset=True)
    return value


def assert_thread_is_free(client: openai.OpenAI, thread_id: str) -> None:
    """No active run is left: the thread takes a new message."""
    message = client.beta.threads.messages.create(thread_id, role="user", content="still here")
    assert message.thread_id == thread_id


# --------------------------------------------------------------------------- 1. every field

JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {
    "name": "answer", "description": "The answer.",
    "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
               "required": ["answer"], "additionalProperties": False},
    "strict": True}}


@pytest.mark.parametrize(("tool_choice", "response_format"), [
    ("required", {"type": "json_object"}),
    ("none", JSON_SCHEMA_FORMAT),
    ({"type": "function", "function": {"name": "lookup"}}, {"type": "json_object"}),
], ids=["required-json_object", "none-json_schema", "named-function"])
def test_every_run_field_reaches_the_model(client: openai.OpenAI, model_server: Any,
                                           tool_choice: Any, response_format: Any) -> None:
    marker = tag()
    assistant = make_assistant(client, tools=[WEATHER_TOOL], temperature=1.0, top_p=1.0)
    lookup = {"type": "function", "function": {
        "name": "lookup", "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}},
                       "required": ["word"]}}}
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": f"thread message {marker}"}])
    extra_text = f"additional message {marker}"
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        model="override-model",
        instructions=f"Run instructions {marker}.",
        additional_instructions="Answer in json.",
        additional_messages=[{"role": "user", "content": extra_text}],
        tools=[lookup],
        metadata={"case": marker},
        temperature=0.25,
        top_p=0.5,
        response_format=response_format,
        tool_choice=tool_choice,
        parallel_tool_calls=False,
        max_completion_tokens=1000,
        max_prompt_tokens=20000,
        truncation_strategy={"type": "auto"},
    )
    assert run.status == "completed", (run.last_error, run.incomplete_details)

    # The Run echoes what was asked, as the SDK's own types.
    system = f"Run instructions {marker}.\n\nAnswer in json."
    assert isinstance(run, Run)
    assert run.model == "override-model"
    assert run.instructions == system
    assert [t.type for t in run.tools] == ["function"]
    assert isinstance(run.tools[0], FunctionTool)
    assert run.tools[0].function.name == "lookup"
    assert run.tools[0].function.parameters == lookup["function"]["parameters"]
    assert run.metadata == {"case": marker}
    assert run.temperature == 0.25 and run.top_p == 0.5
    assert run.parallel_tool_calls is False
    assert run.max_completion_tokens == 1000 and run.max_prompt_tokens == 20000
    assert isinstance(run.truncation_strategy, TruncationStrategy)
    assert run.truncation_strategy.type == "auto"
    expected_format = {"json_object": ResponseFormatJSONObject,
                       "json_schema": ResponseFormatJSONSchema}[response_format["type"]]
    assert isinstance(run.response_format, expected_format)
    assert dumped(run.response_format) == response_format
    if isinstance(tool_choice, str):
        assert run.tool_choice == tool_choice
    else:
        assert isinstance(run.tool_choice, AssistantToolChoice)
        assert run.tool_choice.type == "function"
        assert run.tool_choice.function is not None
        assert run.tool_choice.function.name == "lookup"
    if isinstance(run.response_format, ResponseFormatJSONSchema):
        assert run.response_format.json_schema.name == "answer"
        assert run.response_format.json_schema.strict is True
    # The run-level tools replaced the assistant's for this run only.
    assert [t.function.name for t in client.beta.assistants.retrieve(assistant.id).tools
            if t.type == "function"] == ["get_weather"]

    # The additional message became part of the thread, before the reply.
    texts = [m.content[0].text.value for m in
             client.beta.threads.messages.list(thread.id, order="asc").data]
    assert texts[:2] == [f"thread message {marker}", extra_text]
    assert texts[2] == f"You said: {extra_text}"

    # What the worker sent to the model.
    requests = sent(model_server, marker)
    assert len(requests) == 1
    body = requests[0]["body"]
    assert requests[0]["stream"] is True
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "override-model"
    assert body["messages"][0] == {"role": "system", "content": system}
    assert body["messages"][1:] == [
        {"role": "user", "content": f"thread message {marker}"},
        {"role": "user", "content": extra_text},
    ]
    assert body["temperature"] == 0.25
    assert body["top_p"] == 0.5
    assert body["response_format"] == response_format
    assert body["tool_choice"] == tool_choice
    assert body["parallel_tool_calls"] is False
    assert body["max_completion_tokens"] == 1000
    assert len(body["tools"]) == 1
    tool = body["tools"][0]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "lookup"
    assert tool["function"]["description"] == "Look a word up."
    assert tool["function"]["parameters"] == lookup["function"]["parameters"]


def test_assistant_defaults_apply_without_overrides(client: openai.OpenAI,
                                                    model_server: Any) -> None:
    """Fields the run leaves out come from the assistant; additional_instructions append
    to the assistant's own instructions."""
    marker = tag()
    assistant = make_assistant(client, tools=[WEATHER_TOOL], temperature=0.75, top_p=0.8,
                               instructions=f"Assistant instructions {marker}.",
                               response_format={"type": "json_object"})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "json please"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, additional_instructions="Be terse.")
    assert run.status == "completed", run.last_error
    assert run.model == "test-model"
    system = f"Assistant instructions {marker}.\n\nBe terse."
    assert run.instructions == system
    assert isinstance(run.response_format, ResponseFormatJSONObject)
    assert [t.function.name for t in run.tools if t.type == "function"] == ["get_weather"]
    assert run.temperature == 0.75 and run.top_p == 0.8
    [request] = sent(model_server, marker)
    body = request["body"]
    assert body["model"] == "test-model"
    assert body["messages"][0] == {"role": "system", "content": system}
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.75 and body["top_p"] == 0.8
    assert body["response_format"] == {"type": "json_object"}
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert all(t["type"] == "function" for t in body["tools"])
    assert body["parallel_tool_calls"] is True


@pytest.mark.parametrize("text", ["Sunny in Paris.", None], ids=["text-and-calls", "calls-only"])
def test_tool_choice_none_drops_the_models_calls(client: openai.OpenAI, model_server: Any,
                                                 workers: dict[str, Path],
                                                 text: str | None) -> None:
    """A model that calls tools anyway under `tool_choice: "none"`: its calls are left out
    (logged), no built-in tool runs, nothing is required; the run completes with its text."""
    marker = tag()
    assistant = make_assistant(client, tools=[WEATHER_TOOL, {"type": "file_search"}])
    plan: dict[str, Any] = {"tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "file_search", "arguments": {"query": "weather"}}], "nonce": marker}
    if text is not None:
        plan["text"] = text
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(**plan)}])
    events = list(client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice="none", stream=True))

    names = [e.event for e in events]
    assert names[-1] == "thread.run.completed", names
    assert "thread.run.requires_action" not in names
    assert "thread.run.step.delta" not in names, "no call is announced"
    run = events[-1].data
    assert run.tool_choice == "none" and run.required_action is None
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    replies = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    if text is None:
        assert steps == [] and replies == []
    else:
        assert [s.type for s in steps] == ["message_creation"]
        assert [m.content[0].text.value for m in replies] == [text]
    [request] = sent(model_server, marker)
    assert request["body"]["tool_choice"] == "none"
    logged = [line for line in workers["runs"].read_text(errors="replace").splitlines()
              if f"run {run.id}" in line and "leaving out" in line]
    assert len(logged) == 1, logged
    assert "get_weather" in logged[0] and "file_search" in logged[0]
    assert_thread_is_free(client, thread.id)


# --------------------------------------------------------------------------- 2. truncation

def test_truncation_last_messages(client: openai.OpenAI, model_server: Any) -> None:
    marker = tag()
    assistant = make_assistant(client, instructions=f"Tutor {marker}.")
    texts = [f"message {i} {marker}" for i in range(5)]
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": text} for text in texts])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 2})
    assert run.status == "completed", run.last_error
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.type == "last_messages"
    assert run.truncation_strategy.last_messages == 2
    [request] = sent(model_server, marker)
    assert request["body"]["messages"] == [
        {"role": "system", "content": f"Tutor {marker}."},
        {"role": "user", "content": texts[3]},
        {"role": "user", "content": texts[4]},
    ]


def test_truncation_auto_drops_the_middle(client: openai.OpenAI, model_server: Any) -> None:
    marker = tag()
    assistant = make_assistant(client, instructions="Be brief.")
    filler = " ".join(["apple"] * 150)
    early = [f"early {i} {marker} {filler}" for i in range(4)]
    latest = f"latest question {marker}"
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": text} for text in [*early, latest]])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        truncation_strategy={"type": "auto"}, max_prompt_tokens=256)
    assert run.status == "completed", (run.last_error, run.incomplete_details)
    assert run.max_prompt_tokens == 256
    [request] = sent(model_server, marker)
    messages = request["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    kept = [m["content"] for m in messages[1:]]
    assert len(kept) < 5, "the prompt must be shorter than the thread"
    assert kept[0] == early[0], "the thread's first message is kept"
    assert kept[-1] == latest, "the latest message is kept"
    assert kept == [early[0], latest]
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == f"You said: {latest}"


def test_prompt_that_cannot_fit_ends_incomplete(client: openai.OpenAI,
                                                model_server: Any) -> None:
    marker = tag()
    assistant = make_assistant(client)
    huge = f"{marker} " + " ".join(["word"] * 300)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": huge}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256)
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert sent(model_server, marker) == [], "nothing too long is sent to the model"
    assert [m.role for m in client.beta.threads.messages.list(thread.id).data] == ["user"]
    assert_thread_is_free(client, thread.id)


# --------------------------------------------------------------------------- 3. completion cap

def test_max_completion_tokens_cuts_the_answer(client: openai.OpenAI, model_server: Any) -> None:
    marker = tag()
    assistant = make_assistant(client)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": script(tokens=400, chunk_tokens=16, nonce=marker)}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256)
    assert run.status == "incomplete", run.last_error
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens == 256
    assert run.usage.total_tokens == run.usage.prompt_tokens + 256
    [request] = sent(model_server, marker)
    assert request["body"]["max_completion_tokens"] == 256
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(reply) == 1
    message = reply[0]
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value.split() == [f"tok{i}" for i in range(256)]
    assert_thread_is_free(client, thread.id)


def test_completion_budget_spans_the_runs_model_calls(client: openai.OpenAI,
                                                     model_server: Any) -> None:
    """The second model call of a function-calling run may spend only what is left."""
    marker = tag()
    assistant = make_assistant(client, tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(steps=[
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"tokens": 400}], nonce=marker)}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=300)
    assert run.status == "requires_action", (run.last_error, run.incomplete_details)
    # Usage shows once the run ends; what the first call spent, once its step completes.
    assert run.usage is None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert done.status == "incomplete", done.last_error
    tool_step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id,
                                                    order="asc").data[0]
    assert tool_step.usage is not None
    spent = tool_step.usage.completion_tokens
    assert 0 < spent < 300
    assert done.incomplete_details is not None
    assert done.incomplete_details.reason == "max_completion_tokens"
    assert done.usage is not None and done.usage.completion_tokens == 300
    budgets = [r["body"]["max_completion_tokens"] for r in sent(model_server, marker)]
    assert budgets == [300, 300 - spent]
    last = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert last.status == "incomplete"
    assert last.content[0].text.value.split() == [f"tok{i}" for i in range(300 - spent)]


# --------------------------------------------------------------------------- 4. usage

def test_run_usage_is_the_sum_of_its_steps(client: openai.OpenAI) -> None:
    assistant = make_assistant(client, tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], nonce=tag())}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert run.usage is None  # null until the run ends
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert done.status == "completed", done.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    for step in steps:
        assert step.status == "completed"
        assert step.usage is not None
        assert step.usage.prompt_tokens > 0 and step.usage.completion_tokens > 0
        assert step.usage.total_tokens == step.usage.prompt_tokens + step.usage.completion_tokens
    usages = [s.usage for s in steps if s.usage is not None]
    assert done.usage is not None
    assert done.usage.prompt_tokens == sum(u.prompt_tokens for u in usages)
    assert done.usage.completion_tokens == sum(u.completion_tokens for u in usages)
    assert done.usage.total_tokens == sum(u.total_tokens for u in usages)


# --------------------------------------------------------------------------- 5. model errors

def test_transient_model_error_is_retried(client: openai.OpenAI, model_server: Any) -> None:
    marker = tag()
    assistant = make_assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        status=500, fail_times=1, retry_after_ms=10, text=f"recovered {marker}")}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert run.last_error is None
    assert [r["status"] for r in sent(model_server, marker)] == [500, 200]
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == f"recovered {marker}"
    assert_thread_is_free(client, thread.id)


@pytest.mark.parametrize(("status", "fail_times", "code", "attempts"), [
    (429, 1000, "rate_limit_exceeded", "retried"),
    (400, None, "invalid_prompt", "once"),
    (500, 1000, "server_error", "retried"),
], ids=["429", "400", "500"])
def test_model_errors_fail_the_run(client: openai.OpenAI, model_server: Any, status: int,
                                   fail_times: int | None, code: str, attempts: str) -> None:
    marker = tag()
    plan: dict[str, Any] = {"status": status, "retry_after_ms": 10, "nonce": marker}
    if fail_times is not None:
        plan["fail_times"] = fail_times
    assistant = make_assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(**plan)}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "failed"
    assert run.failed_at is not None
    assert run.last_error is not None
    assert run.last_error.code == code
    assert run.last_error.message
    requests = sent(model_server, marker)
    assert all(r["status"] == status for r in requests)
    if attempts == "once":
        assert len(requests) == 1, "a 400 is not retried"
    else:
        assert len(requests) >= 2, "the worker's client retries a retryable status"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "failed"
    assert_thread_is_free(client, thread.id)
    again = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                     assistant_id=assistant.id)
    assert again.status == "completed", again.last_error


# --------------------------------------------------------------------------- 6. streaming

def test_stream_event_order(client: openai.OpenAI) -> None:
    assistant = make_assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=30, chunk_tokens=3, chunk_delay_ms=60, nonce=tag())}])
    stream = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                             stream=True)
    events = list(stream)
    names = [e.event for e in events]
    head = ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
            "thread.run.step.created", "thread.run.step.in_progress",
            "thread.message.created", "thread.message.in_progress"]
    tail = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert names[:len(head)] == head, names
    assert names[-len(tail):] == tail, names
    middle = names[len(head):-len(tail)]
    assert set(middle) == {"thread.message.delta"}, names
    assert len(middle) >= 2, "the paced answer arrives in several deltas"
    text = ""
    for event in events:
        if event.event != "thread.message.delta":
            continue
        for part in event.data.delta.content or []:
            assert part.index == 0
            assert part.type == "text"
            text += part.text.value or ""
    expected = " ".join(f"tok{i}" for i in range(30))
    assert text == expected
    run = events[-1].data
    assert run.status == "completed"
    message = next(e.data for e in events if e.event == "thread.message.completed")
    assert message.content[0].text.value == expected
    step = next(e.data for e in events if e.event == "thread.run.step.completed")
    assert step.step_details.message_creation.message_id == message.id
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_stream_tool_call_deltas(client: openai.OpenAI) -> None:
    assistant = make_assistant(client, tools=[WEATHER_TOOL])
    cities = ["Paris", "Oslo"]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "get_weather", "arguments": {"city": c}} for c in cities],
        chunk_delay_ms=60, nonce=tag())}])
    stream = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                             stream=True)
    events = list(stream)
    names = [e.event for e in events]
    head = ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
            "thread.run.step.created", "thread.run.step.in_progress"]
    assert names[:len(head)] == head, names
    assert names[-1] == "thread.run.requires_action", names
    middle = names[len(head):-1]
    assert middle and set(middle) == {"thread.run.step.delta"}, names

    entries: dict[int, list[Any]] = {}
    for event in events:
        if event.event == "thread.run.step.delta":
            details = event.data.delta.step_details
            assert details is not None and details.type == "tool_calls"
            for call in details.tool_calls or []:
                assert isinstance(call.index, int)
                entries.setdefault(call.index, []).append(call)
    assert sorted(entries) == [0, 1]
    assert all(len(calls) >= 2 for calls in entries.values()), (
        "each call's arguments arrive after its first delta")
    run = events[-1].data
    assert run.status == "requires_action"
    required = run.required_action.submit_tool_outputs.tool_calls
    for index, calls in entries.items():
        first, rest = calls[0], calls[1:]
        assert first.id == required[index].id
        assert first.function is not None and first.function.name == "get_weather"
        for later in rest:
            assert later.id is None, "the id is sent only in the first delta of an index"
            assert later.function is None or later.function.name is None, (
                "the name is sent only in the first delta of an index")
        arguments = "".join((c.function.arguments or "") for c in calls
                            if c.function is not None)
        assert json.loads(arguments) == {"city": cities[index]}
        assert arguments == required[index].function.arguments
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


# --------------------------------------------------------------------------- 7. concurrency

def test_one_active_run_per_thread_under_concurrency(client: openai.OpenAI) -> None:
    assistant = make_assistant(client)
    # The reply is held back so the accepted run is still active while the others arrive.
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        delay_ms=3000, text="slow answer", nonce=tag())}])

    def attempt(_: int) -> tuple[str, Any]:
        try:
            return "accepted", client.beta.threads.runs.create(thread_id=thread.id,
                                                               assistant_id=assistant.id)
        except openai.BadRequestError as error:
            return "rejected", error
        except openai.InternalServerError as error:
            return "5xx", error
        except openai.APIError as error:
            return "other", error

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    kinds = [kind for kind, _ in outcomes]
    assert kinds.count("5xx") == 0, [str(v) for k, v in outcomes if k == "5xx"]
    assert kinds.count("other") == 0, [repr(v) for k, v in outcomes if k == "other"]
    assert kinds.count("accepted") == 1, kinds
    assert kinds.count("rejected") == 49
    for kind, value in outcomes:
        if kind == "rejected":
            assert "already has an active run" in value.message
    [accepted] = [value for kind, value in outcomes if kind == "accepted"]
    finished = client.beta.threads.runs.poll(accepted.id, thread_id=thread.id)
    assert finished.status == "completed", finished.last_error
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [accepted.id]
    client.beta.threads.messages.create(thread.id, role="user", content="once more")
    second = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                      assistant_id=assistant.id)
    assert second.status == "completed", second.last_error
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == "You said: once more"
