"""Request schemas: the spec's valid shapes load, the invalid ones are refused."""
from typing import Any

import pytest
from marshmallow import ValidationError

from api.assistants.schemas import CreateAssistant, ModifyAssistant
from api.fields import ListArgs, page_query
from api.files.schemas import UploadForm
from api.messages.schemas import CreateMessage, ModifyMessage
from api.runs.schemas import CreateRun, CreateThreadAndRun
from api.threads.schemas import CreateThread, ModifyThread
from api.vector_stores.schemas import CreateFileBatch, CreateVectorStore, CreateVectorStoreFile
from shared.storage.pagination import PageQuery


def refused(schema: Any, data: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        schema.load(data)
    messages = info.value.messages
    assert isinstance(messages, dict)
    return messages


FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


# --------------------------------------------------------------------------- assistants


def test_create_assistant_minimal() -> None:
    assert CreateAssistant().load({"model": "gpt-4o"}) == {"model": "gpt-4o"}


def test_create_assistant_full() -> None:
    data = {
        "model": "gpt-4o",
        "name": "Math Tutor",
        "description": "Helps with math",
        "instructions": "You are a personal math tutor.",
        "reasoning_effort": "medium",
        "tools": [
            {"type": "code_interpreter"},
            {"type": "file_search", "file_search": {
                "max_num_results": 50,
                "ranking_options": {"ranker": "auto", "score_threshold": 0.5}}},
            FUNCTION_TOOL,
        ],
        "tool_resources": {
            "code_interpreter": {"file_ids": ["file-abc"]},
            "file_search": {"vector_store_ids": ["vs_abc"]},
        },
        "metadata": {"team": "math"},
        "temperature": 2,
        "top_p": 0,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {"type": "object"}, "strict": None}},
    }
    loaded = CreateAssistant().load(data)
    assert loaded["tools"] == data["tools"]
    assert loaded["metadata"] == {"team": "math"}
    assert loaded["temperature"] == 2.0 and loaded["top_p"] == 0.0


@pytest.mark.parametrize("response_format", [
    "auto", None, {"type": "text"}, {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "x-y_Z9"}},
])
def test_response_formats(response_format: Any) -> None:
    loaded = CreateAssistant().load({"model": "m", "response_format": response_format})
    assert loaded["response_format"] == response_format


@pytest.mark.parametrize("field", ["name", "description", "instructions", "temperature",
                                   "top_p", "tool_resources", "reasoning_effort"])
def test_nullable_fields(field: str) -> None:
    assert CreateAssistant().load({"model": "m", field: None})[field] is None


def test_null_metadata_means_no_pairs() -> None:
    assert CreateAssistant().load({"model": "m", "metadata": None})["metadata"] == {}


@pytest.mark.parametrize("field, limit", [
    ("name", 256), ("description", 512), ("instructions", 256_000),
])
def test_string_limits(field: str, limit: int) -> None:
    assert CreateAssistant().load({"model": "m", field: "x" * limit})[field] == "x" * limit
    assert field in refused(CreateAssistant(), {"model": "m", field: "x" * (limit + 1)})
    assert field in refused(ModifyAssistant(), {field: "x" * (limit + 1)})


def test_tool_count_limit() -> None:
    tools = [{"type": "code_interpreter"}] * 128
    assert len(CreateAssistant().load({"model": "m", "tools": tools})["tools"]) == 128
    assert "tools" in refused(CreateAssistant(), {"model": "m", "tools": tools + tools[:1]})


def test_metadata_limits() -> None:
    at_limit = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assert CreateAssistant().load({"model": "m", "metadata": at_limit})["metadata"] == at_limit
    for metadata in ({f"k{i}": "v" for i in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513},
                     {"k": 1}, {"k": None}, ["k"], "k"):
        assert "metadata" in refused(CreateAssistant(), {"model": "m", "metadata": metadata})


@pytest.mark.parametrize("data, field", [
    ({}, "model"),
    ({"model": ""}, "model"),
    ({"model": None}, "model"),
    ({"model": 4}, "model"),
    ({"model": "m", "foo": 1}, "foo"),
    ({"model": "m", "object": "assistant"}, "object"),
    ({"model": "m", "name": 5}, "name"),
    ({"model": "m", "tools": "code_interpreter"}, "tools"),
    ({"model": "m", "tools": [{"type": "browser"}]}, "tools"),
    ({"model": "m", "tools": [{}]}, "tools"),
    ({"model": "m", "tools": ["function"]}, "tools"),
    ({"model": "m", "tools": [{"type": "function"}]}, "tools"),
    ({"model": "m", "tools": [{"type": "function", "function": {}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "function", "function": {"name": "f",
                                                                 "parameters": "{}"}}]},
     "tools"),
    ({"model": "m", "tools": [{"type": "file_search", "file_search": {
        "max_num_results": 51}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "file_search", "file_search": {
        "max_num_results": 5.5}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "file_search", "file_search": {
        "ranking_options": {"ranker": "best", "score_threshold": 0.5}}}]}, "tools"),
    ({"model": "m", "tools": [{"type": "file_search", "file_search": {
        "ranking_options": {"score_threshold": 1.5}}}]}, "tools"),
    ({"model": "m", "temperature": 2.01}, "temperature"),
    ({"model": "m", "temperature": -0.01}, "temperature"),
    ({"model": "m", "temperature": "hot"}, "temperature"),
    ({"model": "m", "temperature": True}, "temperature"),
    ({"model": "m", "temperature": float("nan")}, "temperature"),
    ({"model": "m", "temperature": float("inf")}, "temperature"),
    ({"model": "m", "temperature": 10**400}, "temperature"),
    ({"model": "m", "top_p": 1.01}, "top_p"),
    ({"model": "m", "reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"model": "m", "response_format": "json"}, "response_format"),
    ({"model": "m", "response_format": {"type": "xml"}}, "response_format"),
    ({"model": "m", "response_format": {"type": "json_schema"}}, "response_format"),
    ({"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}},
     "tool_resources"),
    ({"model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
     "tool_resources"),
    ({"model": "m", "tool_resources": {"browser": {}}}, "tool_resources"),
])
def test_create_assistant_refuses(data: dict[str, Any], field: str) -> None:
    assert field in refused(CreateAssistant(), data)


@pytest.mark.parametrize("value", ["0.5", "1"])
def test_numbers_given_as_strings_are_refused(value: str) -> None:
    """The spec types temperature and top_p as numbers; OpenAI refuses numeric strings."""
    assert "temperature" in refused(CreateAssistant(), {"model": "m", "temperature": value})
    assert "top_p" in refused(CreateAssistant(), {"model": "m", "top_p": value})


def test_modify_assistant_needs_nothing() -> None:
    assert ModifyAssistant().load({}) == {}
    assert ModifyAssistant().load({"model": "gpt-4o-mini", "tools": []}) == {
        "model": "gpt-4o-mini", "tools": []}
    assert "model" in refused(ModifyAssistant(), {"model": ""})
    assert "foo" in refused(ModifyAssistant(), {"foo": 1})


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("content", [
    "hello",
    "",
    [{"type": "text", "text": "hello"}],
    [{"type": "image_file", "image_file": {"file_id": "file-abc", "detail": "high"}}],
    [{"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}],
    [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
    [{"type": "text", "text": "look"},
     {"type": "image_file", "image_file": {"file_id": "file-abc"}}],
])
def test_create_message_content_shapes(content: Any) -> None:
    loaded = CreateMessage().load({"role": "user", "content": content})
    assert loaded["content"] == content


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_create_message_roles(role: str) -> None:
    assert CreateMessage().load({"role": role, "content": "x"})["role"] == role


def test_create_message_full() -> None:
    data = {
        "role": "user",
        "content": "see attached",
        "attachments": [
            {"file_id": "file-abc", "tools": [{"type": "code_interpreter"},
                                              {"type": "file_search"}]},
            {"file_id": "file-def"},
        ],
        "metadata": {"k": "v"},
    }
    assert CreateMessage().load(data) == data
    assert CreateMessage().load({"role": "user", "content": "x", "attachments": None})[
        "attachments"] is None


@pytest.mark.parametrize("data, field", [
    ({"content": "x"}, "role"),
    ({"role": "user"}, "content"),
    ({"role": "system", "content": "x"}, "role"),
    ({"role": "tool", "content": "x"}, "role"),
    ({"role": "user", "content": []}, "content"),
    ({"role": "user", "content": None}, "content"),
    ({"role": "user", "content": 5}, "content"),
    ({"role": "user", "content": {"type": "text", "text": "x"}}, "content"),
    ({"role": "user", "content": ["hello"]}, "content"),
    ({"role": "user", "content": [{"type": "text"}]}, "content"),
    ({"role": "user", "content": [{"type": "text", "text": {"value": "x"}}]}, "content"),
    ({"role": "user", "content": [{"type": "audio", "audio": {}}]}, "content"),
    ({"role": "user", "content": [{"type": "image_file", "image_file": {}}]}, "content"),
    ({"role": "user", "content": [{"type": "image_file", "image_file": {
        "file_id": "file-abc", "detail": "ultra"}}]}, "content"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
     "content"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:text/plain,hi"}}]}, "content"),
    ({"role": "user", "content": "x", "attachments": [{}]}, "attachments"),
    ({"role": "user", "content": "x", "attachments": "file-abc"}, "attachments"),
    ({"role": "user", "content": "x", "attachments": [
        {"file_id": "file-abc", "tools": [{"type": "function"}]}]}, "attachments"),
    ({"role": "user", "content": "x", "metadata": {"k": "v" * 513}}, "metadata"),
    ({"role": "user", "content": "x", "assistant_id": "asst_x"}, "assistant_id"),
])
def test_create_message_refuses(data: dict[str, Any], field: str) -> None:
    assert field in refused(CreateMessage(), data)


def test_modify_message_only_takes_metadata() -> None:
    assert ModifyMessage().load({"metadata": {"a": "b"}}) == {"metadata": {"a": "b"}}
    assert ModifyMessage().load({"metadata": None}) == {"metadata": {}}
    assert "content" in refused(ModifyMessage(), {"content": "x"})


# --------------------------------------------------------------------------- threads


def test_create_thread_shapes() -> None:
    assert CreateThread().load({}) == {}
    data = {
        "messages": [{"role": "user", "content": "hi"},
                     {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}],
        "tool_resources": {"code_interpreter": {"file_ids": []}},
        "metadata": {"k": "v"},
    }
    assert CreateThread().load(data) == data


@pytest.mark.parametrize("data, field", [
    ({"messages": "hi"}, "messages"),
    ({"messages": ["hi"]}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "x"}]},
     "messages"),
    ({"messages": [{"role": "user", "content": []}]}, "messages"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"tool_resources": {"code_interpreter": {"file_ids": "file-abc"}}}, "tool_resources"),
    ({"assistant_id": "asst_x"}, "assistant_id"),
])
def test_create_thread_refuses(data: dict[str, Any], field: str) -> None:
    assert field in refused(CreateThread(), data)


def test_create_thread_error_points_at_the_bad_message() -> None:
    messages = refused(CreateThread(), {"messages": [
        {"role": "user", "content": "x"}, {"role": "system", "content": "x"}]})
    assert list(messages["messages"]) == [1]
    assert "role" in messages["messages"][1]


def test_modify_thread() -> None:
    assert ModifyThread().load({"metadata": {"a": "b"}}) == {"metadata": {"a": "b"}}
    assert "messages" in refused(ModifyThread(), {"messages": []})


# --------------------------------------------------------------------------- tagged unions


def _chunking(kind: Any) -> dict[str, Any]:
    return {"chunking_strategy": {"type": kind}}


def _attachment(kind: Any) -> dict[str, Any]:
    return {"role": "user", "content": "x",
            "attachments": [{"file_id": "file-abc", "tools": [{"type": kind}]}]}


# Every tagged union of the request schemas: the schema, a body whose union has `type`
# KIND, and the path to that `type` in marshmallow's messages.
TAGGED_UNIONS: list[tuple[Any, Any, tuple[Any, ...]]] = [
    (CreateAssistant, lambda k: {"model": "m", "tools": [{"type": k}]}, ("tools", 0, "type")),
    (CreateAssistant, lambda k: {"model": "m", "response_format": {"type": k}},
     ("response_format", "type")),
    (CreateAssistant, lambda k: {"model": "m", "tool_resources": {"file_search": {
        "vector_stores": [_chunking(k)]}}},
     ("tool_resources", "file_search", "vector_stores", 0, "chunking_strategy", "type")),
    (ModifyAssistant, lambda k: {"tools": [{"type": "code_interpreter"}, {"type": k}]},
     ("tools", 1, "type")),
    (ModifyAssistant, lambda k: {"response_format": {"type": k}}, ("response_format", "type")),
    (CreateThread, lambda k: {"messages": [_attachment(k)]},
     ("messages", 0, "attachments", 0, "tools", 0, "type")),
    (CreateThread, lambda k: {"messages": [{"role": "user", "content": [{"type": k}]}]},
     ("messages", 0, "content", 0, "type")),
    (CreateThread, lambda k: {"tool_resources": {"file_search": {
        "vector_stores": [_chunking(k)]}}},
     ("tool_resources", "file_search", "vector_stores", 0, "chunking_strategy", "type")),
    (ModifyThread, lambda k: {"tool_resources": {"file_search": {
        "vector_stores": [_chunking(k)]}}},
     ("tool_resources", "file_search", "vector_stores", 0, "chunking_strategy", "type")),
    (CreateMessage, _attachment, ("attachments", 0, "tools", 0, "type")),
    (CreateMessage, lambda k: {"role": "user", "content": [{"type": k}]},
     ("content", 0, "type")),
    (CreateRun, lambda k: {"assistant_id": "asst_a", "tools": [{"type": k}]},
     ("tools", 0, "type")),
    (CreateRun, lambda k: {"assistant_id": "asst_a", "response_format": {"type": k}},
     ("response_format", "type")),
    (CreateRun, lambda k: {"assistant_id": "asst_a", "tool_choice": {"type": k}},
     ("tool_choice", "type")),
    (CreateRun, lambda k: {"assistant_id": "asst_a", "additional_messages": [_attachment(k)]},
     ("additional_messages", 0, "attachments", 0, "tools", 0, "type")),
    (CreateThreadAndRun, lambda k: {"assistant_id": "asst_a", "tools": [{"type": k}]},
     ("tools", 0, "type")),
    (CreateThreadAndRun, lambda k: {"assistant_id": "asst_a", "response_format": {"type": k}},
     ("response_format", "type")),
    (CreateThreadAndRun, lambda k: {"assistant_id": "asst_a", "tool_choice": {"type": k}},
     ("tool_choice", "type")),
    (CreateThreadAndRun, lambda k: {"assistant_id": "asst_a", "thread": {
        "messages": [_attachment(k)]}},
     ("thread", "messages", 0, "attachments", 0, "tools", 0, "type")),
    (CreateThreadAndRun, lambda k: {"assistant_id": "asst_a", "tool_resources": {
        "file_search": {"vector_stores": [_chunking(k)]}}},
     ("tool_resources", "file_search", "vector_stores", 0, "chunking_strategy", "type")),
    (CreateVectorStore, _chunking, ("chunking_strategy", "type")),
    (CreateVectorStoreFile, lambda k: {"file_id": "file-abc", **_chunking(k)},
     ("chunking_strategy", "type")),
    (CreateFileBatch, lambda k: {"file_ids": ["file-abc"], **_chunking(k)},
     ("chunking_strategy", "type")),
    (CreateFileBatch, lambda k: {"files": [{"file_id": "file-abc", **_chunking(k)}]},
     ("files", 0, "chunking_strategy", "type")),
]


TAGGED_PARAMS = [pytest.param(schema, body, path,
                              id=f"{schema.__name__}-{'.'.join(map(str, path))}")
                 for schema, body, path in TAGGED_UNIONS]


def _at(messages: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        assert isinstance(messages, dict) and key in messages, (key, messages)
        messages = messages[key]
    return messages


@pytest.mark.parametrize("kind, got", [
    ({}, "an object"), ([], "an array"), (["function"], "an array"),
    ({"type": "function"}, "an object"), (None, "null"), (1, "a number"), (True, "a boolean"),
], ids=["object", "array", "array-of-string", "nested-type", "null", "number", "boolean"])
@pytest.mark.parametrize("schema, body, path", TAGGED_PARAMS)
def test_tagged_union_refuses_a_type_that_is_no_string(
        schema: Any, body: Any, path: tuple[Any, ...], kind: Any, got: str) -> None:
    """An object or array `type` is unhashable: it must be refused, never looked up."""
    [message] = _at(refused(schema(), body(kind)), path)
    assert message.startswith(f"Invalid type: expected a string, but got {got}. "
                              "Supported values are: '")


@pytest.mark.parametrize("schema, body, path", TAGGED_PARAMS)
def test_tagged_union_refuses_an_unknown_type(schema: Any, body: Any,
                                              path: tuple[Any, ...]) -> None:
    [message] = _at(refused(schema(), body("nonsense")), path)
    assert message.startswith("Invalid value: 'nonsense'. Supported values are: '")


def test_tagged_union_names_the_supported_values() -> None:
    [message] = refused(CreateAssistant(), {"model": "m", "response_format": {"type": []}})[
        "response_format"]["type"]
    assert message == ("Invalid type: expected a string, but got an array. Supported values "
                       "are: 'text', 'json_object', 'json_schema'.")
    [message] = refused(CreateVectorStore(), {"chunking_strategy": {"type": {}}})[
        "chunking_strategy"]["type"]
    assert message == ("Invalid type: expected a string, but got an object. Supported values "
                       "are: 'auto', 'static'.")


# --------------------------------------------------------------------------- list arguments


def test_list_defaults() -> None:
    assert ListArgs().load({}) == {"limit": 20, "order": "desc"}
    assert page_query(ListArgs().load({})) == PageQuery(limit=20, order="desc")


def test_list_bounds_and_cursors() -> None:
    args = ListArgs().load({"limit": "1", "order": "asc", "after": "asst_a", "before": "asst_b"})
    assert args == {"limit": 1, "order": "asc", "after": "asst_a", "before": "asst_b"}
    assert page_query(args) == PageQuery(limit=1, order="asc", after="asst_a", before="asst_b")
    assert ListArgs().load({"limit": "100"})["limit"] == 100


@pytest.mark.parametrize("data, field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"order": "sideways"}, "order"),
    ({"order": "ASC"}, "order"),
])
def test_list_refuses(data: dict[str, Any], field: str) -> None:
    assert field in refused(ListArgs(), data)


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("purpose", ["assistants", "batch", "fine-tune", "vision",
                                     "user_data", "evals"])
def test_upload_purposes(purpose: str) -> None:
    assert UploadForm().load({"purpose": purpose}) == {"purpose": purpose}


def test_upload_expiry() -> None:
    loaded = UploadForm().load({"purpose": "assistants", "expires_after[anchor]": "created_at",
                                "expires_after[seconds]": "3600"})
    assert loaded == {"purpose": "assistants", "expires_after_anchor": "created_at",
                      "expires_after_seconds": 3600}
    assert UploadForm().load({"purpose": "batch", "expires_after[anchor]": "created_at",
                              "expires_after[seconds]": "2592000"})[
        "expires_after_seconds"] == 2_592_000


@pytest.mark.parametrize("data, field", [
    ({}, "purpose"),
    ({"purpose": "nonsense"}, "purpose"),
    ({"purpose": "Assistants"}, "purpose"),
    ({"purpose": "assistants", "expires_after[anchor]": "created_at"}, "expires_after"),
    ({"purpose": "assistants", "expires_after[seconds]": "3600"}, "expires_after"),
    ({"purpose": "assistants", "expires_after[anchor]": "last_active_at",
      "expires_after[seconds]": "3600"}, "expires_after[anchor]"),
    ({"purpose": "assistants", "expires_after[anchor]": "created_at",
      "expires_after[seconds]": "3599"}, "expires_after[seconds]"),
    ({"purpose": "assistants", "expires_after[anchor]": "created_at",
      "expires_after[seconds]": "2592001"}, "expires_after[seconds]"),
])
def test_upload_refuses(data: dict[str, Any], field: str) -> None:
    assert field in refused(UploadForm(), data)
