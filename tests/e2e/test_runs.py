"""Runs end to end: the SDK, the API, real Celery workers and a Chat Completions server."""
import json
from typing import Any

import openai
import pytest

pytestmark = pytest.mark.usefixtures("workers")


def script(**plan: Any) -> str:
    return "SCRIPT: " + json.dumps(plan)


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(
        model="test-model", instructions="You are a personal math tutor.",
        tools=[{"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}}}}}],
    )


def test_plain_completion_with_create_and_poll(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello there"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.usage.total_tokens > 0
    assert run.expires_at is None and run.completed_at is not None
    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    reply = messages[1]
    assert reply.content[0].text.value == "You said: hello there"
    assert reply.run_id == run.id and reply.assistant_id == assistant.id
    assert reply.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == reply.id
    assert steps[0].status == "completed" and steps[0].usage is not None
    assert client.beta.threads.messages.list(thread.id, run_id=run.id).data[0].id == reply.id


def test_stream_with_event_handler(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=40, chunk_tokens=1)}])

    class Handler(openai.AssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []
            self.text = ""

        def on_event(self, event: Any) -> None:
            self.names.append(event.event)

        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            self.text += delta.value or ""

    handler = Handler()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=handler) as stream:
        stream.until_done()
    expected = " ".join(f"tok{i}" for i in range(40))
    assert handler.text.strip() == expected
    final = handler.get_final_run()
    assert final.status == "completed"
    names = handler.names
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names.index("thread.message.created") < names.index("thread.message.delta")
    assert names[-2:] == ["thread.run.step.completed", "thread.run.completed"]
    assert handler.get_final_messages()[0].content[0].text.value.strip() == expected


def test_parallel_function_calls_through_polling(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "get_weather", "arguments": {"city": "Oslo"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Oslo"]
    assert run.expires_at == run.created_at + 8
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id,
                                                        "output": "sunny"}])
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread.id, role="user", content="hi")
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "sunny"},
                      {"tool_call_id": calls[1].id, "output": "rainy"}])
    assert done.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == "Tool results: sunny; rainy"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    outputs = [c.function.output for c in steps[0].step_details.tool_calls]
    assert outputs == ["sunny", "rainy"]


def test_function_calls_through_stream(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}},
                    {"name": "get_weather", "arguments": {"city": "Lima"}}])}])
    with client.beta.threads.runs.stream(thread_id=thread.id,
                                         assistant_id=assistant.id) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    step = stream.get_final_run_steps()[-1]
    assert [c.function.arguments for c in step.step_details.tool_calls] == [
        c.function.arguments for c in calls]
    outputs = [{"tool_call_id": c.id, "output": json.loads(c.function.arguments)["city"]}
               for c in calls]
    with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs) as after:
        text = "".join(after.text_deltas)
        final = after.get_final_run()
    assert text == "Tool results: Rome; Lima"
    assert final.status == "completed"


def test_create_thread_and_run_poll(client: openai.OpenAI, assistant: Any) -> None:
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "from a new thread"}]},
        metadata={"k": "v"},
    )
    assert run.status == "completed" and run.metadata == {"k": "v"}
    messages = client.beta.threads.messages.list(run.thread_id).data
    assert messages[0].content[0].text.value == "You said: from a new thread"
    assert [r.id for r in client.beta.threads.runs.list(run.thread_id)] == [run.id]
    modified = client.beta.threads.runs.update(run.id, thread_id=run.thread_id,
                                               metadata={"k": "w"})
    assert modified.metadata == {"k": "w"}
