"""`POST /v1/responses/input_tokens` through the official SDK
(`client.responses.input_tokens.count`): the API checks the body as a create's, the runs pool
counts the prompt a response created with it would send. Real API, real runs worker; the model
server shows what such a response did send.
"""
import io
from typing import Any

import openai
import pytest

from tests.e2e.scripts import marked as script
from tests.e2e.scripts import refused, sent
from workers.runs.prompt import Prompt, _tokens, request_tokens

pytestmark = pytest.mark.usefixtures("workers")

MODEL = "test-model"
WEATHER: Any = [{"type": "function", "name": "get_weather",
                 "description": "The weather in a city.",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"]}}]


@pytest.fixture(autouse=True)
def _needs_input_tokens(client: openai.OpenAI) -> None:
    if not hasattr(getattr(client, "responses", None), "input_tokens"):
        pytest.skip("this openai SDK has no client.responses.input_tokens")


def count(client: openai.OpenAI, **body: Any) -> int:
    counted = client.responses.input_tokens.count(**body)
    assert counted.object == "response.input_tokens"
    return counted.input_tokens


def cost(chat_body: dict[str, Any]) -> int:
    """What a chat request the model server received costs, counted as Treadle counts one."""
    messages = chat_body["messages"]
    return request_tokens(Prompt(messages, sum(_tokens(m) for m in messages)), chat_body)


def test_text_counts_and_grows_with_it(client: openai.OpenAI, model_server: Any) -> None:
    marker = "count-text-1"
    short = count(client, model=MODEL, input=f"{marker} Hello there")
    longer = count(client, model=MODEL, input=f"{marker} Hello there, " + "tell me more " * 20)
    assert 0 < short < longer
    # Without a model (or with nulls, as the SDK sends a None it is given) it counts the
    # same: the count does not depend on the model.
    assert count(client, input=f"{marker} Hello there") == short
    assert count(client, input=f"{marker} Hello there", instructions=None,
                 previous_response_id=None, tools=None) == short
    # Counting calls no model.
    assert sent(model_server, marker) == []


def test_instructions_add_tokens(client: openai.OpenAI) -> None:
    alone = count(client, model=MODEL, input="What is the tide doing?")
    assert count(client, model=MODEL, input="What is the tide doing?",
                 instructions="Answer as a harbour master would.") > alone


def test_the_count_is_the_usage_of_a_response_with_that_body(client: openai.OpenAI) -> None:
    # The test model counts a prompt's words (and 4 per message); each of these words is one
    # token, so a model counting tokens would report what the count says.
    body: dict[str, Any] = {"model": MODEL, "instructions": "you are a calm guide",
                            "input": "tell me about the sea"}
    response = client.responses.create(**body)
    assert response.usage is not None
    assert count(client, **body) == response.usage.input_tokens == 4 + 5 + 4 + 5


def test_a_chain_counts_the_earlier_turns(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada Lovelace.")
    alone = count(client, model=MODEL, input="What is my name?")
    chained = count(client, model=MODEL, input="What is my name?",
                    previous_response_id=first.id)
    assert chained > alone


def test_a_conversations_items_count_and_stay_as_they_are(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[
        {"type": "message", "role": "user", "content": "Remember the number 4217."}])
    alone = count(client, model=MODEL, input="Which number?")
    assert count(client, model=MODEL, input="Which number?",
                 conversation=conversation.id) > alone
    assert count(client, model=MODEL, input="Which number?",
                 conversation={"id": conversation.id}) > alone
    # Nothing is stored: the conversation holds its one item still.
    assert len(client.conversations.items.list(conversation.id).data) == 1


def test_tools_add_their_definitions(client: openai.OpenAI) -> None:
    alone = count(client, model=MODEL, input="Weather in Oslo?")
    with_function = count(client, model=MODEL, input="Weather in Oslo?", tools=WEATHER)
    assert with_function > alone
    store = client.vector_stores.create(name="Manuals")
    searching = count(client, model=MODEL, input="Weather in Oslo?", tools=[
        *WEATHER, {"type": "file_search", "vector_store_ids": [store.id]}])
    assert searching > with_function
    schema = {"type": "json_schema", "name": "weather", "schema": {
        "type": "object", "properties": {"sky": {"type": "string"}}}}
    assert count(client, model=MODEL, input="Weather in Oslo?", text={"format": schema}) > alone


def test_the_count_is_the_prompt_a_response_sends(client: openai.OpenAI,
                                                  model_server: Any) -> None:
    """A chain with a function call answered and tools: the count is what the second
    response's model call carried, as Treadle counts a prompt."""
    marker = "count-sent-1"
    first = client.responses.create(
        model=MODEL, tools=WEATHER, instructions="Be brief.", input=script(
            marker, steps=[{"tool_calls": [{"name": "get_weather",
                                             "arguments": {"city": "Oslo"}}]},
                           {"text": "It is sunny in Oslo."}]))
    [call] = first.output
    assert call.type == "function_call"
    body: dict[str, Any] = {
        "model": MODEL, "tools": WEATHER, "instructions": "Be brief.",
        "previous_response_id": first.id,
        "input": [{"type": "function_call_output", "call_id": call.call_id,
                   "output": "sunny, 21 degrees"}]}
    counted = count(client, **body)
    second = client.responses.create(**body)
    assert second.output_text == "It is sunny in Oslo."
    last = sent(model_server, marker)[-1]["body"]
    assert last["messages"][-1]["content"] == "sunny, 21 degrees"
    assert counted == cost(last)


def test_bad_input_is_a_400_naming_the_field(client: openai.OpenAI) -> None:
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content", None),
        ({"input": "x", "tools": [{"type": "web_search_nope"}]}, "tools[0].type", None),
        ({"input": "x", "truncation": "sometimes"}, "truncation", None),
        ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}},
         "tool_choice.name", None),
        ({"input": "x", "previous_response_id": "msg_abc"}, "previous_response_id", None),
        ({"input": "x", "extra_body": {"store": True}}, "store", "unknown_parameter"),
        ({"input": "x", "extra_body": {"prompt": {"id": "asst_abc"}}}, "prompt",
         "unknown_parameter"),
    ]
    for body, param, code in cases:
        error = refused(openai.BadRequestError,
                       lambda body=body: client.responses.input_tokens.count(**body))
        assert error["param"] == param, body
        if code is not None:
            assert error["code"] == code


def test_conversation_and_previous_response_are_exclusive(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="One")
    conversation = client.conversations.create()
    error = refused(openai.BadRequestError, lambda: client.responses.input_tokens.count(
        input="Two", previous_response_id=first.id, conversation=conversation.id))
    assert error["param"] == "conversation"
    assert error["code"] == "mutually_exclusive_parameters"


def _refusal(call: Any) -> tuple[int, Any]:
    with pytest.raises(openai.APIStatusError) as info:
        call()
    return info.value.status_code, info.value.body


def test_another_projects_ids_are_refused_as_create_refuses_them(
        client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    """Another project's response or conversation is not found (404); its vector store or
    file is refused as one that does not exist (400), as a create refuses them."""
    response = client.responses.create(model=MODEL, input="Mine")
    conversation = client.conversations.create()
    store = client.vector_stores.create(name="Mine")
    notes = client.files.create(file=("notes.txt", io.BytesIO(b"my notes")),
                                purpose="user_data")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"previous_response_id": response.id}, 404, "previous_response_id"),
        ({"conversation": conversation.id}, 404, "conversation"),
        ({"tools": [{"type": "file_search", "vector_store_ids": [store.id]}]}, 400,
         "tools[0].vector_store_ids[0]"),
        ({"input": [{"role": "user", "content": [
            {"type": "input_text", "text": "Read:"},
            {"type": "input_file", "file_id": notes.id}]}]}, 400,
         "input[0].content[1].file_id"),
    ]
    for body, status, param in cases:
        body = {"input": "x", **body}
        status_and_error = _refusal(
            lambda body=body: other_client.responses.input_tokens.count(**body))
        assert status_and_error == _refusal(
            lambda body=body: other_client.responses.create(model=MODEL, **body)), body
        assert status_and_error[0] == status and status_and_error[1]["param"] == param, body
        assert client.responses.input_tokens.count(**body).input_tokens > 0
