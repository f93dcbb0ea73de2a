"""file_search inside runs: the model's query searched by the search pool, the step's
results, citations in the answer, and the conversation the model saw."""
import io
import json
from typing import Any

import openai
import pytest

pytestmark = pytest.mark.usefixtures("workers")

CHAT = "/v1/chat/completions"
MANUAL = b"""Maintenance manual for the Kestrel pump.
The service code for a blocked impeller is QV-7731. Replace the seal every 400 hours.
"""
MENU = b"""Cafeteria menu. Monday: lentil soup. Tuesday: grilled trout with dill potatoes.
"""
CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def script(steps: list[dict[str, Any]], marker: str) -> str:
    return f"{marker}\nSCRIPT: " + json.dumps({"steps": steps})


def stores_of(client: openai.OpenAI) -> Any:
    return getattr(client, "vector_stores", None) or client.beta.vector_stores


@pytest.fixture
def library(client: openai.OpenAI) -> tuple[str, dict[str, str]]:
    stores = stores_of(client)
    store = stores.create(name="Manuals")
    batch = stores.file_batches.upload_and_poll(vector_store_id=store.id, files=[
        ("kestrel.txt", io.BytesIO(MANUAL)), ("menu.txt", io.BytesIO(MENU))])
    assert batch.file_counts.completed == 2
    files = {f.filename: f.id for f in client.files.list() if f.filename in
             ("kestrel.txt", "menu.txt")}
    return store.id, files


def test_file_search_run_cites_its_source(client: openai.OpenAI, model_server: Any,
                                          library: tuple[str, dict[str, str]]) -> None:
    store_id, files = library
    assistant = client.beta.assistants.create(
        model="test-model", instructions="Answer from the manuals.",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 5}}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    answer = "Use service code QV-7731【0:0†kestrel.txt】 for a blocked impeller."
    marker = "case-cite-1"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script([
        {"tool_calls": [{"name": "file_search",
                         "arguments": {"query": "service code QV-7731 blocked impeller"}}]},
        {"text": answer}], marker)}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = reply.content[0].text
    assert text.value == answer
    [citation] = text.annotations
    assert citation.type == "file_citation"
    assert citation.file_citation.file_id == files["kestrel.txt"]
    assert text.value[citation.start_index:citation.end_index] == "【0:0†kestrel.txt】"
    assert citation.text == "【0:0†kestrel.txt】"

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    [call] = steps[0].step_details.tool_calls
    assert call.type == "file_search"
    results = call.file_search.results
    assert results[0].file_id == files["kestrel.txt"]
    assert results[0].file_name == "kestrel.txt" and results[0].score > 0
    assert not results[0].content
    detailed = client.beta.threads.runs.steps.retrieve(
        steps[0].id, thread_id=thread.id, run_id=run.id, include=[CONTENT])
    assert "QV-7731" in detailed.step_details.tool_calls[0].file_search.results[0].content[0].text
    listed = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[CONTENT])
    assert any(s.type == "tool_calls" and s.step_details.tool_calls[0].file_search.results[0]
               .content for s in listed.data)
    raw = client.get(f"/threads/{thread.id}/runs/{run.id}/steps/{steps[0].id}", cast_to=object)
    assert not any(key.startswith("_") for key in raw["step_details"]["tool_calls"][0])
    # The query searched for (a Treadle extension), on every way a step is read.
    query = "service code QV-7731 blocked impeller"
    assert raw["step_details"]["tool_calls"][0]["file_search"]["query"] == query
    assert (call.file_search.model_extra or {}).get("query") == query
    assert (detailed.step_details.tool_calls[0].file_search.model_extra or {}).get(
        "query") == query

    requests = [r for r in model_server.requests(CHAT) if marker in json.dumps(r["body"])]
    assert len(requests) == 2
    offered = [t["function"]["name"] for t in requests[0]["body"]["tools"]]
    assert offered == ["file_search"]
    tool_message = requests[1]["body"]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "【0:0†kestrel.txt】" in tool_message["content"]
    assert "QV-7731" in tool_message["content"]


def test_file_search_streams_and_annotates(client: openai.OpenAI,
                                           library: tuple[str, dict[str, str]]) -> None:
    store_id, files = library
    assistant = client.beta.assistants.create(model="test-model", tools=[{"type": "file_search"}])
    answer = "Tuesday brings grilled trout【0:0†menu.txt】."
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": script([
            {"tool_calls": [{"name": "file_search", "arguments": {"query": "trout"}}]},
            {"text": answer}], "case-stream-2")}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    seen: list[str] = []

    class Handler(openai.AssistantEventHandler):
        def on_event(self, event: Any) -> None:
            seen.append(event.event)

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=Handler()) as stream:
        stream.until_done()
        final = stream.get_final_messages()
        run = stream.get_final_run()
    assert run.status == "completed"
    text = final[0].content[0].text
    assert text.value == answer
    assert [a.file_citation.file_id for a in text.annotations] == [files["menu.txt"]]
    tool_step = seen.index("thread.run.step.completed")
    assert seen.index("thread.message.created") > tool_step
    assert seen[-1] == "thread.run.completed"


def test_file_search_without_stores_tells_the_model(client: openai.OpenAI,
                                                    model_server: Any) -> None:
    assistant = client.beta.assistants.create(model="test-model", tools=[{"type": "file_search"}])
    marker = "case-nostore-3"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "anything"}}]},
        {"text": "Nothing found."}], marker)}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed"
    requests = [r for r in model_server.requests(CHAT) if marker in json.dumps(r["body"])]
    assert "nothing to search" in requests[1]["body"]["messages"][-1]["content"]


def test_mixed_builtin_and_function_calls_park_for_the_function(
        client: openai.OpenAI, library: tuple[str, dict[str, str]]) -> None:
    store_id, _ = library
    assistant = client.beta.assistants.create(model="test-model", tools=[
        {"type": "file_search"},
        {"type": "function", "function": {"name": "order_part", "parameters": {
            "type": "object", "properties": {"code": {"type": "string"}}}}}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "impeller"}},
                        {"name": "order_part", "arguments": {"code": "QV-7731"}}]},
        {"text": "Ordered."}], "case-mixed-4")}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action"
    [pending] = run.required_action.submit_tool_outputs.tool_calls
    assert pending.function.name == "order_part"
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": pending.id, "output": "ok"}])
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    calls = steps[0].step_details.tool_calls
    assert [c.type for c in calls] == ["file_search", "function"]
    assert calls[0].file_search.results and calls[1].function.output == "ok"


def test_create_run_include_puts_result_content_in_the_streamed_step(
        client: openai.OpenAI, library: tuple[str, dict[str, str]]) -> None:
    store_id, _ = library
    assistant = client.beta.assistants.create(
        model="test-model", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    plan = [{"tool_calls": [{"name": "file_search",
                             "arguments": {"query": "service code QV-7731"}}]},
            {"text": "QV-7731【0:0†kestrel.txt】"}]

    def streamed_results(include: list[str]) -> Any:
        thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
            plan, f"case-include-{len(include)}")}])
        stream = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id,
                                                 stream=True, include=include)
        done = [event.data for event in stream if event.event == "thread.run.step.completed"
                and event.data.type == "tool_calls"]
        return done[0].step_details.tool_calls[0].file_search.results

    with_content = streamed_results([CONTENT])
    assert "QV-7731" in with_content[0].content[0].text
    assert not streamed_results([])[0].content
