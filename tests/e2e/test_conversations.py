"""Conversations and their items through the official SDK (3.x: `client.conversations`).

The previous SDK generation has no `client.conversations`; under it (`make test-sdk1`) every
test here is skipped.
"""
import io
import json
import uuid
from typing import Any

import openai
import pytest


@pytest.fixture(autouse=True)
def _needs_conversations(client: openai.OpenAI) -> None:
    if not hasattr(client, "conversations"):
        pytest.skip("this openai SDK has no client.conversations")


def _upload(client: openai.OpenAI, name: str = "notes.txt") -> str:
    return client.files.create(file=(name, io.BytesIO(b"notes")), purpose="user_data").id


def _raw_items(client: openai.OpenAI, conversation_id: str, **query: Any) -> dict[str, Any]:
    response = client.conversations.items.with_raw_response.list(conversation_id, **query)
    body: dict[str, Any] = json.loads(response.text)
    return body


def _error(exc_class: type[openai.APIStatusError], call: Any) -> dict[str, Any]:
    with pytest.raises(exc_class) as info:
        call()
    body = info.value.body
    assert isinstance(body, dict), body
    assert body["type"] == "invalid_request_error", body
    return body


def _say(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


SEARCH_RESULTS = [{"file_id": "file-abc", "filename": "a.txt", "score": 0.5, "text": "t",
                   "attributes": {"k": "v", "n": 1, "b": True}}]
INTERPRETER_OUTPUTS = [{"type": "logs", "logs": "42\n"},
                       {"type": "image", "url": "https://example.com/p.png"}]
LOGPROBS = [{"token": "Hi", "bytes": [72, 105], "logprob": -0.1, "top_logprobs": []}]


def _every_kind(file_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "developer", "content": "Answer briefly."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is in these?"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
            {"type": "input_image", "file_id": file_id},
            {"type": "input_file", "file_id": file_id},
        ]},
        {"type": "message", "role": "assistant", "id": "msg_echoed", "status": "completed",
         "content": [{"type": "output_text", "text": "A chart [1].", "logprobs": LOGPROBS,
                      "annotations": [{"type": "file_citation", "file_id": file_id,
                                       "filename": "notes.txt", "index": 9}]}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup",
         "arguments": '{"q": "x"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "file_search_call", "id": "fs_echoed", "queries": ["notes"],
         "status": "completed", "results": SEARCH_RESULTS},
        {"type": "code_interpreter_call", "id": "ci_echoed", "code": "print(42)",
         "container_id": "cntr_1", "outputs": INTERPRETER_OUTPUTS, "status": "completed"},
        _say("Thanks.", "assistant"),
        {"role": "system", "content": [{"type": "input_text", "text": "Be kind."}]},
    ]


def test_create_with_items_of_every_kind(client: openai.OpenAI) -> None:
    file_id = _upload(client)
    conversation = client.conversations.create(items=_every_kind(file_id),
                                               metadata={"topic": "demo"})
    assert conversation.id.startswith("conv_") and conversation.object == "conversation"
    assert conversation.metadata == {"topic": "demo"}
    assert isinstance(conversation.created_at, int)
    assert client.conversations.retrieve(conversation.id) == conversation

    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [(item.type, item.id[:item.id.index("_") + 1]) for item in items] == [
        ("message", "msg_"), ("message", "msg_"), ("message", "msg_"), ("function_call", "fc_"),
        ("function_call_output", "fco_"), ("file_search_call", "fs_"),
        ("code_interpreter_call", "ci_"), ("message", "msg_"), ("message", "msg_")]
    assert len({item.id for item in items}) == len(items)
    # An echoed item's id is not kept: every stored item has an id of its own.
    assert not {"msg_echoed", "fs_echoed", "ci_echoed"} & {item.id for item in items}
    assert all(item.status == "completed" for item in items)
    developer, user, assistant, call, output, search, interpreter, thanks, system = items

    assert developer.role == "developer"
    assert [part.model_dump(exclude_unset=True) for part in developer.content] == [
        {"type": "input_text", "text": "Answer briefly."}]
    assert [part.type for part in user.content] == [
        "input_text", "input_image", "input_image", "input_file"]
    assert user.content[1].detail == "low" and user.content[2].detail == "auto"
    assert user.content[2].file_id == file_id and user.content[3].file_id == file_id
    assert assistant.role == "assistant"
    [text] = assistant.content
    assert text.type == "output_text" and text.text == "A chart [1]."
    assert text.annotations[0].type == "file_citation" and text.annotations[0].index == 9
    assert text.logprobs is None
    assert (call.call_id, call.name, call.arguments) == ("call_1", "lookup", '{"q": "x"}')
    assert (output.call_id, output.output) == ("call_1", "42")
    assert search.queries == ["notes"] and search.results is None
    assert interpreter.code == "print(42)" and interpreter.container_id == "cntr_1"
    assert interpreter.outputs is None
    assert thanks.content[0].model_dump(exclude_unset=True) == {
        "type": "output_text", "text": "Thanks.", "annotations": []}
    assert system.role == "system"

    for item in items:
        fetched = client.conversations.items.retrieve(item.id, conversation_id=conversation.id)
        assert fetched == item


def test_include_shows_what_it_names(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=_every_kind(_upload(client)))
    plain = _raw_items(client, conversation.id, order="asc")["data"]
    assert plain[1]["content"][1]["image_url"] is None
    assert "logprobs" not in plain[2]["content"][0]
    assert plain[5]["results"] is None and plain[6]["outputs"] is None

    everything = ["file_search_call.results", "code_interpreter_call.outputs",
                  "message.input_image.image_url", "message.output_text.logprobs",
                  "reasoning.encrypted_content"]
    full = _raw_items(client, conversation.id, order="asc", include=everything)["data"]
    assert full[1]["content"][1]["image_url"] == "https://example.com/a.png"
    assert full[2]["content"][0]["logprobs"] == LOGPROBS
    assert full[7]["content"][0]["logprobs"] == []
    assert full[5]["results"] == SEARCH_RESULTS
    assert full[6]["outputs"] == INTERPRETER_OUTPUTS
    assert [{k: v for k, v in item.items() if k not in ("content", "results", "outputs")}
            for item in full] == [
        {k: v for k, v in item.items() if k not in ("content", "results", "outputs")}
        for item in plain]

    search = client.conversations.items.retrieve(
        plain[5]["id"], conversation_id=conversation.id, include=["file_search_call.results"])
    assert search.results[0].file_id == "file-abc" and search.results[0].score == 0.5
    added = client.conversations.items.create(conversation.id, items=[
        {"type": "code_interpreter_call", "id": "ci_x", "code": None, "container_id": "c",
         "outputs": INTERPRETER_OUTPUTS, "status": "failed"}],
        include=["code_interpreter_call.outputs"])
    assert added.data[0].outputs[0].logs == "42\n" and added.data[0].status == "failed"
    assert added.data[0].code is None

    with pytest.raises(openai.BadRequestError):
        client.conversations.items.list(conversation.id, include=["nothing.at_all"])


def test_add_items_and_page_in_both_orders(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    assert client.conversations.items.list(conversation.id).data == []
    ids: list[str] = []
    for batch in range(3):
        added = client.conversations.items.create(
            conversation.id, items=[_say(f"{batch}-{n}") for n in range(15)])
        assert added.object == "list" and added.has_more is False
        assert [item.content[0].text for item in added.data] == [
            f"{batch}-{n}" for n in range(15)]
        assert (added.first_id, added.last_id) == (added.data[0].id, added.data[-1].id)
        ids += [item.id for item in added.data]

    ascending = client.conversations.items.list(conversation.id, order="asc", limit=10)
    assert [item.id for item in ascending] == ids
    descending = client.conversations.items.list(conversation.id, limit=7)
    assert [item.id for item in descending] == ids[::-1]

    page = _raw_items(client, conversation.id, order="asc", limit=20)
    assert [item["id"] for item in page["data"]] == ids[:20]
    assert page["object"] == "list" and page["has_more"] is True
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[19])
    last = _raw_items(client, conversation.id, order="asc", after=ids[39], limit=20)
    assert [item["id"] for item in last["data"]] == ids[40:] and last["has_more"] is False
    newest = _raw_items(client, conversation.id)
    assert [item["id"] for item in newest["data"]] == ids[::-1][:20]
    assert _raw_items(client, conversation.id, after=ids[0])["data"] == []

    for limit in (0, 101):
        assert _error(openai.BadRequestError, lambda limit=limit: client.conversations.items.list(
            conversation.id, limit=limit))["param"] == "limit"
    assert _error(openai.BadRequestError, lambda: client.conversations.items.list(
        conversation.id, order="sideways"))["param"] == "order"


def test_update_metadata_then_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[_say("hi")], metadata={"a": "1"})
    updated = client.conversations.update(conversation.id, metadata={"a": "2", "b": "3"})
    assert updated.metadata == {"a": "2", "b": "3"} and updated.id == conversation.id
    assert updated.created_at == conversation.created_at
    assert client.conversations.retrieve(conversation.id).metadata == {"a": "2", "b": "3"}
    assert client.conversations.update(conversation.id, metadata=None).metadata == {}
    assert _error(openai.BadRequestError, lambda: client.conversations.update(
        conversation.id, metadata={"k" * 65: "v"}))["param"].startswith("metadata")
    assert _error(openai.BadRequestError, lambda: client.conversations.update(
        conversation.id, metadata={str(n): "v" for n in range(17)}))["param"] == "metadata"

    deleted = client.conversations.delete(conversation.id)
    assert deleted.model_dump() == {"id": conversation.id, "object": "conversation.deleted",
                                    "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.delete(conversation.id)
    assert _error(openai.BadRequestError, lambda: client.conversations.retrieve(
        "thread_" + "a" * 24))["param"] == "conversation_id"


def test_delete_an_item(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[_say("one"), _say("two"), _say("three")])
    first, second, third = client.conversations.items.list(conversation.id, order="asc")
    answer = client.conversations.items.delete(second.id, conversation_id=conversation.id)
    assert answer == client.conversations.retrieve(conversation.id)
    assert [item.id for item in client.conversations.items.list(
        conversation.id, order="asc")] == [first.id, third.id]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(second.id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete(second.id, conversation_id=conversation.id)
    # Items added later go after every item there is, deleted ones' places included.
    [fourth] = client.conversations.items.create(conversation.id, items=[_say("four")]).data
    assert [item.id for item in client.conversations.items.list(
        conversation.id, order="asc")] == [first.id, third.id, fourth.id]


def test_at_most_twenty_items_per_request(client: openai.OpenAI) -> None:
    too_many = [_say(str(n)) for n in range(21)]
    body = _error(openai.BadRequestError, lambda: client.conversations.create(items=too_many))
    assert body["param"] == "items" and "maximum length 20" in body["message"]
    conversation = client.conversations.create(items=too_many[:20])
    assert len(list(client.conversations.items.list(conversation.id))) == 20
    body = _error(openai.BadRequestError, lambda: client.conversations.items.create(
        conversation.id, items=too_many))
    assert body["param"] == "items"
    added = client.conversations.items.create(conversation.id, items=too_many[:20])
    assert len(added.data) == 20
    assert _error(openai.BadRequestError, lambda: client.conversations.items.create(
        conversation.id, items=None))["param"] == "items"


MALFORMED: list[tuple[list[Any], str, str]] = [
    ([_say("a"), _say("b"), {"role": "user", "content": [{"type": "input_txt", "text": "x"}]}],
     "items[2].content[0].type", "invalid_value"),
    ([{"type": "reasoning", "summary": []}], "items[0].type", "invalid_value"),
    ([{"type": 7}], "items[0].type", "invalid_type"),
    (["hello"], "items[0]", "invalid_type"),
    ([{"content": "no role"}], "items[0].role", "missing_required_parameter"),
    ([{"role": "boss", "content": "x"}], "items[0].role", "invalid_value"),
    ([{"role": "user", "content": "x", "mood": "glad"}], "items[0].mood", "unknown_parameter"),
    ([{"role": "user", "content": []}], "items[0].content", "empty_array"),
    ([{"role": "user", "content": 5}], "items[0].content", "invalid_type"),
    ([{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}],
     "items[0].content[0].type", "invalid_value"),
    ([{"role": "user", "content": [{"type": "output_text", "text": "x", "annotations": []}]}],
     "items[0].content[0].type", "invalid_value"),
    ([{"role": "assistant", "content": [{"type": "output_text", "text": "x",
                                         "annotations": "none"}]}],
     "items[0].content[0].annotations", "invalid_type"),
    ([{"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [
        {"type": "file_citation", "file_id": "file-x", "filename": "a", "index": "9"}]}]}],
     "items[0].content[0].annotations[0].index", "invalid_type"),
    ([{"role": "user", "content": [{"type": "input_image"}]}], "items[0].content[0]",
     "invalid_value"),
    ([{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x"}]}],
     "items[0].content[0].image_url", "invalid_value"),
    ([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png",
                                    "detail": "huge"}]}],
     "items[0].content[0].detail", "invalid_value"),
    ([{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}],
     "items[0].content[0].file_url", "invalid_value"),
    ([{"role": "user", "content": [{"type": "input_file", "file_data": "aGk="}]}],
     "items[0].content[0].filename", "missing_required_parameter"),
    ([{"role": "user", "content": "x", "status": "done"}], "items[0].status", "invalid_value"),
    ([{"type": "function_call", "name": "f", "arguments": "{}"}], "items[0].call_id",
     "missing_required_parameter"),
    ([{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}],
     "items[0].arguments", "invalid_type"),
    ([{"type": "function_call_output", "call_id": "c"}], "items[0].output",
     "missing_required_parameter"),
    ([{"type": "function_call_output", "call_id": "c", "output": [{"type": "refusal"}]}],
     "items[0].output[0].type", "invalid_value"),
    ([{"type": "file_search_call", "queries": ["q"], "status": "done"}], "items[0].status",
     "invalid_value"),
    ([{"type": "file_search_call", "queries": "q", "status": "completed"}],
     "items[0].queries", "invalid_type"),
    ([{"type": "code_interpreter_call", "code": "1", "outputs": None, "status": "completed"}],
     "items[0].container_id", "missing_required_parameter"),
    ([{"type": "code_interpreter_call", "code": "1", "container_id": "c", "status": "completed",
       "outputs": [{"type": "video", "url": "x"}]}], "items[0].outputs[0].type", "invalid_value"),
]


@pytest.mark.parametrize("items, param, code", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_items_name_the_field(client: openai.OpenAI, items: list[Any], param: str,
                                        code: str) -> None:
    conversation = client.conversations.create(items=[_say("kept")])
    body = _error(openai.BadRequestError, lambda: client.conversations.items.create(
        conversation.id, items=items))
    assert (body["param"], body["code"]) == (param, code), body
    body = _error(openai.BadRequestError, lambda: client.conversations.create(items=items))
    assert body["param"] == param, body
    assert [item.content[0].text for item in client.conversations.items.list(
        conversation.id)] == ["kept"]


def test_another_projects_conversation_and_items_are_not_found(
        client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    mine = client.conversations.create(items=[_say("secret")], metadata={"k": "v"})
    [item] = client.conversations.items.list(mine.id).data
    calls = [
        lambda: other_client.conversations.retrieve(mine.id),
        lambda: other_client.conversations.update(mine.id, metadata={"k": "stolen"}),
        lambda: other_client.conversations.delete(mine.id),
        lambda: other_client.conversations.items.list(mine.id),
        lambda: other_client.conversations.items.create(mine.id, items=[_say("x")]),
        lambda: other_client.conversations.items.retrieve(item.id, conversation_id=mine.id),
        lambda: other_client.conversations.items.delete(item.id, conversation_id=mine.id),
    ]
    theirs = other_client.conversations.create(items=[_say("theirs")])
    # Their own conversation with my item's id: not an item of theirs either.
    calls += [
        lambda: other_client.conversations.items.retrieve(item.id, conversation_id=theirs.id),
        lambda: other_client.conversations.items.delete(item.id, conversation_id=theirs.id),
    ]
    for call in calls:
        body = _error(openai.NotFoundError, call)
        assert "secret" not in json.dumps(body)
    body = _error(openai.BadRequestError, lambda: other_client.conversations.items.list(
        theirs.id, after=item.id))
    assert body["param"] == "after"

    assert client.conversations.retrieve(mine.id).metadata == {"k": "v"}
    assert [i.id for i in client.conversations.items.list(mine.id)] == [item.id]
    # One conversation's item is not another's, in the same project either.
    other_mine = client.conversations.create()
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(item.id, conversation_id=other_mine.id)


def test_files_of_another_project_are_refused(client: openai.OpenAI,
                                              other_client: openai.OpenAI) -> None:
    mine, theirs = _upload(client), _upload(other_client)
    conversation = client.conversations.create()
    cases = [
        ({"role": "user", "content": [{"type": "input_image", "file_id": theirs}]},
         "items[0].content[0].file_id"),
        ({"role": "user", "content": [{"type": "input_text", "text": "see"},
                                      {"type": "input_file", "file_id": theirs}]},
         "items[0].content[1].file_id"),
        ({"type": "function_call_output", "call_id": "c", "output": [
            {"type": "input_file", "file_id": theirs}]}, "items[0].output[0].file_id"),
    ]
    for item, param in cases:
        for call in (lambda item=item: client.conversations.create(items=[item]),
                     lambda item=item: client.conversations.items.create(
                         conversation.id, items=[item])):
            body = _error(openai.BadRequestError, call)
            assert (body["param"], body["message"]) == (
                param, f"No file found with id '{theirs}'."), body
    body = _error(openai.BadRequestError, lambda: client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": [
            {"type": "input_file", "file_id": "asst_" + "a" * 24}]}]))
    assert body["param"] == "items[0].content[0].file_id"
    assert client.conversations.items.list(conversation.id).data == []

    added = client.conversations.items.create(conversation.id, items=[
        {"role": "user", "content": [{"type": "input_file", "file_id": mine}]}])
    assert added.data[0].content[0].file_id == mine


def test_a_retried_create_with_an_idempotency_key_makes_one_conversation(
        client: openai.OpenAI) -> None:
    headers = {"Idempotency-Key": f"conversation-{uuid.uuid4().hex}"}
    first = client.conversations.with_raw_response.create(
        items=[_say("once")], extra_headers=headers)
    again = client.conversations.with_raw_response.create(
        items=[_say("once")], extra_headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.parse() == first.parse()
    conversation = first.parse()
    assert len(client.conversations.items.list(conversation.id).data) == 1
    body = _error(openai.ConflictError, lambda: client.conversations.items.create(
        conversation.id, items=[_say("twice?")], extra_headers=headers))
    assert body["code"] == "idempotency_key_reused"
