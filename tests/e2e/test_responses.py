"""The Responses API through the official SDK (3.x: `client.responses`), against the API and
real runs workers; the model is the scripted test server.

The previous SDK generation has no `client.responses`; under it (`make test-sdk1`) every test
here is skipped.
"""
import io
import json
from typing import Any

import openai
import pytest

from tests.e2e.scripts import marked as script
from tests.e2e.scripts import refused, sent
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("workers")

MODEL = "test-model"


@pytest.fixture(autouse=True)
def _needs_responses(client: openai.OpenAI) -> None:
    if not hasattr(client, "responses"):
        pytest.skip("this openai SDK has no client.responses")


def test_plain_text_answer(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Hello there")
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "You said: Hello there"
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.status == "completed"
    assert response.usage is not None
    assert response.usage.total_tokens == (response.usage.input_tokens
                                           + response.usage.output_tokens)
    assert response.model == MODEL
    assert response.store is True if hasattr(response, "store") else True
    again = client.responses.retrieve(response.id)
    assert again.model_dump() == response.model_dump()


def test_nulls_are_fields_left_out(client: openai.OpenAI) -> None:
    """The SDK sends a None it is given as null."""
    response = client.responses.create(model=MODEL, input="Hello there", instructions=None,
                                       previous_response_id=None, conversation=None,
                                       tools=None, text=None, metadata=None)
    assert response.output_text == "You said: Hello there"
    assert response.instructions is None and response.tools == []


def test_instructions_reach_the_model_as_system(client: openai.OpenAI,
                                                model_server: Any) -> None:
    marker = "resp-instructions-1"
    response = client.responses.create(model=MODEL, instructions="Talk like a pirate.",
                                       input=script(marker, text="Arr."),
                                       metadata={"case": "pirate"}, temperature=0.25)
    assert response.output_text == "Arr."
    assert response.instructions == "Talk like a pirate."
    assert response.metadata == {"case": "pirate"}
    assert response.temperature == 0.25
    [request] = sent(model_server, marker)
    messages = request["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Talk like a pirate."}
    assert request["body"]["temperature"] == 0.25


def test_chained_with_previous_response_id(client: openai.OpenAI, model_server: Any) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada.")
    marker = "resp-chain-1"
    second = client.responses.create(model=MODEL, previous_response_id=first.id,
                                     input=script(marker, text="Your name is Ada."))
    assert second.previous_response_id == first.id
    assert second.output_text == "Your name is Ada."
    [request] = sent(model_server, marker)
    texts = [m["content"] for m in request["body"]["messages"]]
    assert "My name is Ada." in json.dumps(texts)
    assert "You said: My name is Ada." in json.dumps(texts)


def test_streamed_with_the_sdk_helper(client: openai.OpenAI) -> None:
    marker = "resp-stream-1"
    text = "one two three four five"
    with client.responses.stream(model=MODEL,
                                 input=script(marker, text=text, chunk_delay_ms=5)) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert final.output_text == text
    assert final.status == "completed"
    retrieved = client.responses.retrieve(final.id)
    assert retrieved.output_text == final.output_text
    assert retrieved.model_dump(exclude={"output"}) == final.model_dump(exclude={"output"})
    assert [_plain(i) for i in retrieved.output] == [_plain(i) for i in final.output]


def _plain(item: Any) -> dict[str, Any]:
    """An output item without what the stream helper adds (`parsed`)."""
    dumped: dict[str, Any] = item.model_dump()
    for part in dumped.get("content") or []:
        part.pop("parsed", None)
    dumped.pop("parsed_arguments", None)
    return dumped


def test_stream_resumed_with_starting_after(client: openai.OpenAI) -> None:
    marker = "resp-resume-1"
    stream = client.responses.create(model=MODEL, stream=True,
                                     input=script(marker, text="alpha beta gamma delta"))
    seen = list(stream)
    numbers = [event.sequence_number for event in seen]
    assert numbers == list(range(len(seen)))
    response_id = seen[0].response.id
    resumed = list(client.responses.retrieve(response_id, stream=True, starting_after=3))
    assert [e.sequence_number for e in resumed] == numbers[4:]
    assert [e.model_dump() for e in resumed] == [e.model_dump() for e in seen[4:]]


def test_background_then_cancel(client: openai.OpenAI) -> None:
    marker = "resp-background-1"
    response = client.responses.create(model=MODEL, background=True,
                                       input=script(marker, hang=True, hang_s=30,
                                                    chunk_delay_ms=50))
    assert response.status in ("queued", "in_progress")
    assert response.background is True
    # While it runs, a retrieve shows the message it is writing.
    running = wait_for(lambda: next((r for r in [client.responses.retrieve(response.id)]
                                     if r.output), None), what="the answer under way")
    assert running.status == "in_progress" and running.usage is None
    [message] = running.output
    assert message.type == "message" and message.status == "in_progress"
    cancelled = client.responses.cancel(response.id)
    assert cancelled.status in ("cancelled", "in_progress")
    final = _wait_ended(client, response.id)
    assert final.status == "cancelled"
    [message] = final.output
    assert message.status == "incomplete"
    assert message.content[0].text.startswith("You said: ")  # type: ignore[union-attr]
    with client.responses.retrieve(response.id, stream=True) as events:
        kinds = [event.type for event in events]
    assert kinds[-1] == "response.incomplete"


def _wait_ended(client: openai.OpenAI, response_id: str) -> Any:
    """Follow the response's own stream to its end, then read it."""
    with client.responses.retrieve(response_id, stream=True) as events:
        for _ in events:
            pass
    return client.responses.retrieve(response_id)


def test_background_answers_at_once_and_ends(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, background=True, input="Later, please")
    assert response.status in ("queued", "in_progress", "completed")
    final = _wait_ended(client, response.id)
    assert final.status == "completed"
    assert final.output_text == "You said: Later, please"


def test_store_false_is_never_retrievable(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Forget me", store=False)
    assert response.output_text == "You said: Forget me"
    body = refused(openai.NotFoundError, lambda: client.responses.retrieve(response.id))
    assert body["message"] == f"Response with id '{response.id}' not found."


def test_delete(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Delete me")
    assert client.responses.delete(response.id) is None
    refused(openai.NotFoundError, lambda: client.responses.retrieve(response.id))
    refused(openai.NotFoundError, lambda: client.responses.delete(response.id))


def test_input_items_list(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=[
        {"role": "user", "content": "first"}, {"role": "user", "content": "second"}])
    items = client.responses.input_items.list(response.id, order="asc")
    assert [item.content[0].text for item in items.data] == ["first", "second"]
    assert all(item.id for item in items.data)
    page = client.responses.input_items.list(response.id, limit=1)
    assert page.has_more is True
    assert page.data[0].content[0].text == "second"


def test_function_call_round_trip(client: openai.OpenAI, model_server: Any) -> None:
    marker = "resp-function-1"
    tools: Any = [{"type": "function", "name": "get_weather",
                   "description": "The weather in a city.",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                  "required": ["city"]}}]
    first = client.responses.create(model=MODEL, tools=tools, input=script(
        marker, steps=[{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                       {"text": "It is sunny in Oslo."}]))
    assert first.status == "completed"
    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    assert call.id is not None and call.id.startswith("fc_")
    second = client.responses.create(
        model=MODEL, tools=tools, previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.status == "completed"
    assert second.output_text == "It is sunny in Oslo."
    last = sent(model_server, marker)[-1]["body"]["messages"]
    assert last[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_conversation_gets_the_items(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(model=MODEL, conversation=conversation.id,
                                    input="Remember 42")
    assert first.conversation is not None and first.conversation.id == conversation.id
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items] == ["message", "message"]
    assert items[1].id == first.output[0].id
    second = client.responses.create(model=MODEL, conversation=conversation.id,
                                     input="What did I say?")
    assert second.output_text == "You said: What did I say?"
    assert len(client.conversations.items.list(conversation.id).data) == 4


def test_another_projects_response_is_not_found(client: openai.OpenAI,
                                                other_client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Mine")
    for call in (lambda: other_client.responses.retrieve(response.id),
                 lambda: other_client.responses.delete(response.id),
                 lambda: other_client.responses.input_items.list(response.id),
                 lambda: other_client.responses.create(model=MODEL, input="x",
                                                       previous_response_id=response.id)):
        refused(openai.NotFoundError, call)
    assert client.responses.retrieve(response.id).id == response.id


def test_bad_input_is_a_400_naming_the_field(client: openai.OpenAI) -> None:
    body = refused(openai.BadRequestError, lambda: client.responses.create(
        model=MODEL, input=[{"role": "user", "content": 5}]))
    assert body["param"] == "input[0].content"
    body = refused(openai.BadRequestError, lambda: client.responses.create(
        model=MODEL, input="x", tools=[{"type": "web_search_preview_nope"}]))
    assert body["param"] is not None and body["param"].startswith("tools")
    body = refused(openai.BadRequestError, lambda: client.responses.create(
        model=MODEL, input="x", stream="yes"))  # type: ignore[call-overload]
    assert body["param"] == "stream"
    body = refused(openai.BadRequestError, lambda: client.responses.create(
        model=MODEL, input="x", stream=1))  # type: ignore[call-overload]
    assert body["param"] == "stream"
    body = refused(openai.BadRequestError, lambda: client.responses.retrieve("run_abc"))
    assert body["param"] == "response_id"


MANUAL = b"""Maintenance manual for the Kestrel pump.
The service code for a blocked impeller is QV-7731. Replace the seal every 400 hours.
"""


def _store(client: openai.OpenAI) -> str:
    store = client.vector_stores.create(name="Manuals")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("kestrel.txt", io.BytesIO(MANUAL))])
    assert batch.file_counts.completed == 1
    return store.id


def test_file_search_with_citations(client: openai.OpenAI) -> None:
    store_id = _store(client)
    answer = "Use code QV-7731【0:0†kestrel.txt】."
    marker = "resp-search-1"
    plan = script(marker, steps=[
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "blocked impeller"}}]},
        {"text": answer}])
    response = client.responses.create(
        model=MODEL, input=plan, include=["file_search_call.results"],
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}])
    assert response.status == "completed", response.error
    search, message = response.output
    assert search.type == "file_search_call" and search.status == "completed"
    assert search.queries == ["blocked impeller"]
    assert search.results and search.results[0].filename == "kestrel.txt"
    assert "QV-7731" in (search.results[0].text or "")
    assert message.type == "message"
    [part] = message.content
    assert part.type == "output_text" and part.text == answer
    [citation] = part.annotations
    assert citation.type == "file_citation" and citation.filename == "kestrel.txt"
    assert citation.file_id == search.results[0].file_id
    plain = client.responses.retrieve(response.id)
    assert plain.output[0].results is None  # type: ignore[union-attr]


def test_code_interpreter_with_outputs(client: openai.OpenAI) -> None:
    marker = "resp-code-1"
    plan = script(marker, steps=[
        {"tool_calls": [{"name": "code_interpreter", "arguments": {"code": "print(6 * 7)"}}]},
        {"text": "The answer is 42."}])
    with client.responses.stream(
            model=MODEL, input=plan, include=["code_interpreter_call.outputs"],
            tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.status == "completed", final.error
    for kind in ("response.code_interpreter_call.in_progress",
                 "response.code_interpreter_call_code.done",
                 "response.code_interpreter_call.completed"):
        assert kind in kinds
    call, message = final.output
    assert message.type == "message"
    assert call.type == "code_interpreter_call" and call.code == "print(6 * 7)"
    assert call.container_id.startswith("cntr_")
    assert call.outputs is not None
    assert [(o.type, getattr(o, "logs", None)) for o in call.outputs] == [("logs", "42\n")]
    assert final.output_text == "The answer is 42."


def test_prompt_bridge_runs_an_assistants_configuration(client: openai.OpenAI,
                                                        model_server: Any) -> None:
    assistant = client.beta.assistants.create(model=MODEL, instructions="You are terse.",
                                              temperature=0.3)
    marker = "resp-bridge-1"
    response = client.responses.create(prompt={"id": assistant.id},
                                       input=script(marker, text="Fine."))
    assert response.status == "completed", response.error
    assert response.output_text == "Fine."
    assert response.model == MODEL
    [request] = sent(model_server, marker)
    assert request["body"]["messages"][0] == {"role": "system", "content": "You are terse."}
    assert request["body"]["temperature"] == 0.3


def test_streamed_search_ends_with_the_stored_output(client: openai.OpenAI) -> None:
    store_id = _store(client)
    include: Any = ["file_search_call.results"]
    plan = script("resp-search-stream-1", steps=[
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "seal hours"}}]},
        {"text": "Every 400 hours【0:0†kestrel.txt】."}])
    with client.responses.stream(
            model=MODEL, input=plan, include=include,
            tools=[{"type": "file_search", "vector_store_ids": [store_id]}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.output_text.annotation.added" in kinds
    assert final.output[0].queries == ["seal hours"]  # type: ignore[union-attr]
    retrieved = client.responses.retrieve(final.id, include=include)
    assert [_plain(i) for i in retrieved.output] == [_plain(i) for i in final.output]


def test_streamed_function_call(client: openai.OpenAI) -> None:
    plan = script("resp-function-stream-1",
                  tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}])
    tools: Any = [{"type": "function", "name": "get_weather", "strict": False,
                   "parameters": {"type": "object",
                                  "properties": {"city": {"type": "string"}}}}]
    with client.responses.stream(model=MODEL, input=plan, tools=tools) as stream:
        arguments = [event.snapshot for event in stream
                     if event.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert arguments and json.loads(arguments[-1]) == {"city": "Rome"}
    [call] = final.output
    assert call.type == "function_call" and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Rome"}


def test_max_output_tokens_ends_it_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, max_output_tokens=16,
                                       input=script("resp-incomplete-1", tokens=40))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 16
    assert response.usage is not None and response.usage.output_tokens == 16
    assert response.output_text == "".join(f"tok{i} " for i in range(16))


def test_a_model_error_fails_it(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=script(
        "resp-failed-1", status=400, error_message="This model cannot do that."))
    assert response.status == "failed"
    assert response.error is not None
    assert response.error.code == "invalid_prompt"
    assert "This model cannot do that." in response.error.message


def test_background_stream_from_the_start(client: openai.OpenAI) -> None:
    stream = client.responses.create(model=MODEL, background=True, stream=True,
                                     input="In the background")
    kinds = [event.type for event in stream]
    assert kinds[:2] == ["response.created", "response.queued"]
    assert kinds[-1] == "response.completed"


def test_stream_of_events_no_longer_kept_is_a_400(client: openai.OpenAI,
                                                  redis_url: str) -> None:
    import redis

    from shared.storage import redis_keys

    response = client.responses.create(model=MODEL, input="Soon forgotten")
    redis.Redis.from_url(redis_url).delete(redis_keys.run_events(response.id))
    body = refused(openai.BadRequestError,
                  lambda: list(client.responses.retrieve(response.id, stream=True)))
    assert body["param"] == "stream"
    assert client.responses.retrieve(response.id).output_text == "You said: Soon forgotten"


def test_streamed_create_retried_with_its_key_replays_the_events(
        client: openai.OpenAI, model_server: Any) -> None:
    marker = "resp-idempotent-stream-1"
    headers = {"Idempotency-Key": f"key-{marker}"}

    def create() -> tuple[Any, list[Any]]:
        raw = client.responses.with_raw_response.create(
            model=MODEL, stream=True, input=script(marker, text="once only"),
            extra_headers=headers)
        return raw.headers, [event.model_dump() for event in raw.parse()]

    first_headers, first = create()
    again_headers, again = create()
    assert "Idempotent-Replayed" not in first_headers
    assert again_headers["Idempotent-Replayed"] == "true"
    assert again == first
    assert first[-1]["type"] == "response.completed"
    assert len(sent(model_server, marker)) == 1


def test_structured_output_with_the_parse_helper(client: openai.OpenAI,
                                                 model_server: Any) -> None:
    import pydantic

    class Person(pydantic.BaseModel):
        name: str
        age: int

    marker = "resp-parse-1"
    parsed = client.responses.parse(model=MODEL, text_format=Person,
                                    input=script(marker, text='{"name": "Ada", "age": 36}'))
    assert parsed.output_parsed == Person(name="Ada", age=36)
    assert parsed.text is not None and parsed.text.format.type == "json_schema"
    [request] = sent(model_server, marker)
    response_format = request["body"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Person"


def test_async_client_streams_too(api_base: str, api_key: str) -> None:
    import asyncio

    async def main() -> tuple[list[str], str]:
        async with (openai.AsyncOpenAI(base_url=f"{api_base}/v1", api_key=api_key,
                                       max_retries=0) as client,
                    client.responses.stream(model=MODEL, input="Async hello") as stream):
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        return kinds, final.output_text

    kinds, text = asyncio.run(main())
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert text == "You said: Async hello"
