"""Item references and the end user of a response, through the official SDK (3.x) against
the API and real runs workers: what the model is sent is read back from the test model
server's record of each chat request it got."""
import json
from typing import Any

import openai
import psycopg
import pytest

from tests.e2e.scripts import marked as script
from tests.e2e.scripts import sent

pytestmark = pytest.mark.usefixtures("workers")

MODEL = "test-model"
UNKNOWN_ITEM = "msg_" + "Z" * 24
WEATHER: Any = [{"type": "function", "name": "get_weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"]}}]


@pytest.fixture(autouse=True)
def _needs_responses(client: openai.OpenAI) -> None:
    if not hasattr(client, "responses"):
        pytest.skip("this openai SDK has no client.responses")


def reference(item_id: str) -> Any:
    return {"type": "item_reference", "id": item_id}


def _chat(model_server: Any, marker: str) -> list[dict[str, Any]]:
    """The messages of the one chat request that carried `marker`."""
    [request] = sent(model_server, marker)
    messages: list[dict[str, Any]] = request["body"]["messages"]
    return messages


def _not_found(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.NotFoundError) as info:
        call()
    body = info.value.body
    assert isinstance(body, dict), body
    return body


def _responses_marked(database_url: str, marker: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM responses "
                           "WHERE request->'metadata'->>'marker' = %s", (marker,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_previous_responses_items_referenced_reach_the_model(client: openai.OpenAI,
                                                               model_server: Any) -> None:
    first = client.responses.create(model=MODEL, input="The secret word is plum.")
    [asked] = client.responses.input_items.list(first.id).data
    [answer] = first.output
    marker = "item-ref-previous-1"
    second = client.responses.create(model=MODEL, input=[
        reference(asked.id),
        {"id": answer.id},  # OpenAI's item reference may leave out its type
        {"role": "user", "content": script(marker, text="Plum it is.")}])
    assert second.status == "completed" and second.output_text == "Plum it is."
    assert second.previous_response_id is None
    messages = _chat(model_server, marker)
    assert messages[:2] == [{"role": "user", "content": "The secret word is plum."},
                            {"role": "assistant", "content": "You said: The secret word is plum."}]
    # The input items are the items referenced, as they are stored, under their own ids.
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [item.id for item in listed[:2]] == [asked.id, answer.id]
    assert listed[1].model_dump() == answer.model_dump()
    # A later turn by previous_response_id replays them as they were given.
    marker = "item-ref-previous-2"
    client.responses.create(model=MODEL, previous_response_id=second.id,
                            input=script(marker, text="Still plum."))
    assert "You said: The secret word is plum." in json.dumps(_chat(model_server, marker))


def test_an_item_referenced_twice_is_listed_under_two_ids(client: openai.OpenAI,
                                                          model_server: Any) -> None:
    first = client.responses.create(model=MODEL, input="Echo twice")
    message_id = first.output[0].id
    marker = "item-ref-twice-1"
    second = client.responses.create(model=MODEL, input=[
        reference(message_id), reference(message_id),
        {"role": "user", "content": script(marker, text="ok")}])
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert listed[0].id == message_id
    assert listed[1].id != message_id and listed[1].id.startswith("msg_")
    assert [m["content"] for m in _chat(model_server, marker)[:2]] == ["You said: Echo twice"] * 2
    page = client.responses.input_items.list(second.id, order="asc", after=listed[0].id)
    assert [item.id for item in page.data] == [item.id for item in listed[1:]]


def test_a_conversations_item_referenced_reaches_the_model(client: openai.OpenAI,
                                                           model_server: Any) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "The sky here is green."}])
    [fact] = client.conversations.items.list(conversation.id).data
    marker = "item-ref-conversation-1"
    response = client.responses.create(model=MODEL, input=[
        reference(fact.id), {"role": "user", "content": script(marker, text="Green.")}])
    assert response.output_text == "Green."
    assert _chat(model_server, marker)[0] == {"role": "user", "content": "The sky here is green."}
    # On the item's own conversation the reference adds a copy: one id, one item.
    marker = "item-ref-conversation-2"
    again = client.responses.create(model=MODEL, conversation=conversation.id, input=[
        reference(fact.id), {"role": "user", "content": script(marker, text="Green again.")}])
    assert again.status == "completed"
    assert [m["content"] for m in _chat(model_server, marker)[:2]] == [
        "The sky here is green."] * 2
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert len(items) == 4 and len({item.id for item in items}) == 4
    assert items[1].model_dump(exclude={"id"}) == fact.model_dump(exclude={"id"})
    assert items[3].id == again.output[0].id
    assert client.responses.input_items.list(again.id, order="asc").data[0].id == fact.id


def test_conversation_items_may_be_references(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Keep this answer")
    answer = response.output[0]
    conversation = client.conversations.create(items=[reference(answer.id)])
    [copied] = client.conversations.items.list(conversation.id).data
    # The first conversation to hold the item holds it under its id; another makes a copy.
    assert copied.id == answer.id and copied.type == "message" and copied.role == "assistant"
    assert copied.model_dump()["content"] == answer.model_dump()["content"]
    added = client.conversations.items.create(
        conversation.id, items=[reference(answer.id), {"role": "user", "content": "and more"}])
    assert added.data[0].id != answer.id
    assert added.data[0].model_dump(exclude={"id"}) == copied.model_dump(exclude={"id"})
    body = _not_found(lambda: client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "x"}, reference(UNKNOWN_ITEM)]))
    assert (body["param"], body["message"]) == (
        "items[1].id", f"Item with id '{UNKNOWN_ITEM}' not found.")
    assert len(client.conversations.items.list(conversation.id).data) == 3


def test_a_function_call_referenced_then_answered(client: openai.OpenAI,
                                                  model_server: Any) -> None:
    first = client.responses.create(model=MODEL, tools=WEATHER, input=script(
        "item-ref-call-1",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]))
    [call] = first.output
    assert call.type == "function_call" and call.id is not None
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    # Without the call (no previous response, no reference) the output answers nothing.
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, tools=WEATHER, input=[answer])
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == (
        "input[0].call_id")
    second = client.responses.create(model=MODEL, tools=WEATHER,
                                     input=[reference(call.id), answer])
    assert second.status == "completed" and second.output_text == "Tool results: sunny"
    assert _chat(model_server, call.call_id) == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}]


def test_items_not_there_are_refused_and_nothing_is_made(
        client: openai.OpenAI, other_client: openai.OpenAI, model_server: Any,
        database_url: str) -> None:
    mine = client.responses.create(model=MODEL, input="Mine alone")
    conversation = client.conversations.create(items=[{"role": "user", "content": "mine too"}])
    [conversation_item] = client.conversations.items.list(conversation.id).data
    unstored = client.responses.create(model=MODEL, input="Unstored", store=False)
    refused = [(other_client, mine.output[0].id), (other_client, conversation_item.id),
               (client, UNKNOWN_ITEM), (client, "not-an-id"), (client, unstored.output[0].id)]
    for index, (caller, item_id) in enumerate(refused):
        marker = f"item-ref-refused-{index}"
        body = _not_found(lambda caller=caller, item_id=item_id, marker=marker:
                          caller.responses.create(model=MODEL, metadata={"marker": marker},
                                                  input=[{"role": "user", "content": marker},
                                                         reference(item_id)]))
        assert body["type"] == "invalid_request_error"
        assert (body["param"], body["message"]) == (
            "input[1].id", f"Item with id '{item_id}' not found."), item_id
        assert _responses_marked(database_url, marker) == 0
        assert sent(model_server, marker) == []
    # The same references are the owner's to use.
    for item_id in (mine.output[0].id, conversation_item.id):
        assert client.responses.create(model=MODEL, input=[reference(item_id)]).status == (
            "completed")


def test_the_end_user_reaches_the_model_and_is_echoed(client: openai.OpenAI,
                                                      model_server: Any) -> None:
    marker = "resp-user-1"
    response = client.responses.create(model=MODEL, user="end-user-7", tools=WEATHER,
                                       input=script(marker, steps=[
                                           {"tool_calls": [{"name": "get_weather",
                                                            "arguments": {"city": "Rome"}}]}]))
    assert response.user == "end-user-7"
    assert client.responses.retrieve(response.id).user == "end-user-7"
    [request] = sent(model_server, marker)
    assert request["body"]["user"] == "end-user-7"
    # Each model call of the response carries it, a later one after a function's output too.
    [call] = response.output
    later = client.responses.create(model=MODEL, user="end-user-7", tools=WEATHER,
                                    previous_response_id=response.id, input=[
                                        {"type": "function_call_output",
                                         "call_id": call.call_id, "output": "warm"}])
    assert later.output_text == "Tool results: warm"
    assert sent(model_server, marker)[-1]["body"]["user"] == "end-user-7"
    marker = "resp-user-2"
    anonymous = client.responses.create(model=MODEL, input=script(marker, text="hi"))
    assert anonymous.user is None
    assert "user" not in sent(model_server, marker)[0]["body"]
