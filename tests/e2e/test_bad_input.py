# These tests send values the SDK's types forbid, on purpose.
# mypy: disable-error-code="arg-type,list-item,typeddict-item,misc,union-attr"
"""Bad input through the official SDK (and raw HTTP where the SDK cannot send it).

Every bad input must come back as a 4xx OpenAI error that names the offending field in
`param`, be raised as the matching SDK exception class, and leave stored state unchanged.
No input, however odd, may produce a 5xx.
"""
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import openai
import psycopg
import pytest

MODEL = "gpt-4o"
UNKNOWN_ASSISTANT = "asst_" + "a" * 24
UNKNOWN_THREAD = "thread_" + "a" * 24
UNKNOWN_MESSAGE = "msg_" + "a" * 24
UNKNOWN_FILE = "file-" + "a" * 24
MAX_FILE_BYTES = 4 * 1024 * 1024


# --------------------------------------------------------------------------- helpers


def raises(exc_class: type[openai.APIStatusError], call: Callable[[], Any], *,
           param: Any = ..., code: Any = ...,
           param_prefix: str | None = None) -> openai.APIStatusError:
    """Run `call`, expect exactly `exc_class`, and check the OpenAI error shape."""
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert type(error) is exc_class, (
        f"expected {exc_class.__name__}, got {type(error).__name__} "
        f"{error.status_code}: {error.body}"
    )
    assert 400 <= error.status_code < 500
    body = error.body
    assert isinstance(body, dict), body
    assert set(body) >= {"message", "type", "param", "code"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["type"] == "invalid_request_error", body
    if param is not ...:
        assert body["param"] == param, body
    if param_prefix is not None:
        assert isinstance(body["param"], str) and body["param"].startswith(param_prefix), body
    if code is not ...:
        assert body["code"] == code, body
    assert error.response.headers.get("x-request-id"), "error response lacks x-request-id"
    return error


def body_of(error: openai.APIStatusError) -> dict[str, Any]:
    """The `error` object of an OpenAI error response, as the SDK decoded it."""
    assert isinstance(error.body, dict), error.body
    return error.body


def bad_request(call: Callable[[], Any], **kwargs: Any) -> openai.APIStatusError:
    return raises(openai.BadRequestError, call, **kwargs)


def http(api_base: str, method: str, path: str, *, body: bytes | None = None,
         content_type: str | None = None, key: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One raw request; returns status, headers (lower-cased names) and the decoded JSON."""
    request = urllib.request.Request(f"{api_base}{path}", data=body, method=method)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    lowered = {name.lower(): value for name, value in got.items()}
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw
    return status, lowered, decoded


def assert_openai_error(status: int, headers: dict[str, str], body: Any, expected: int,
                        param: Any = ...) -> dict[str, Any]:
    assert status == expected, (status, body)
    assert headers.get("x-request-id"), headers
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"
    if param is not ...:
        assert error["param"] == param, error
    return error


def assistant_ids(client: openai.OpenAI) -> list[str]:
    return [a.id for a in client.beta.assistants.list(limit=100)]


def file_ids(client: openai.OpenAI) -> list[str]:
    return [f.id for f in client.files.list()]


def function_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


@pytest.fixture
def thread(client: openai.OpenAI) -> Any:
    return client.beta.threads.create(metadata={"fixture": "yes"})


@pytest.fixture
def message(client: openai.OpenAI, thread: Any) -> Any:
    return client.beta.threads.messages.create(thread.id, role="user", content="hello",
                                               metadata={"k": "v"})


@pytest.fixture
def uploaded(client: openai.OpenAI) -> Any:
    return client.files.create(file=("notes.txt", b"some notes"), purpose="assistants")


# --------------------------------------------------------------------------- unknown fields


def test_unknown_field_on_create(client: openai.OpenAI) -> None:
    error = bad_request(
        lambda: client.beta.assistants.create(model=MODEL, extra_body={"foo": 1}),
        param="foo", code="unknown_parameter",
    )
    assert body_of(error)["message"] == "Unrecognized request argument supplied: foo"
    assert assistant_ids(client) == []


@pytest.mark.parametrize("call", [
    lambda c, t, m: c.beta.threads.create(extra_body={"foo": 1}),
    lambda c, t, m: c.beta.threads.update(t.id, extra_body={"foo": 1}),
    lambda c, t, m: c.beta.threads.messages.create(t.id, role="user", content="x",
                                                   extra_body={"foo": 1}),
    lambda c, t, m: c.beta.threads.messages.update(m.id, thread_id=t.id,
                                                   extra_body={"foo": 1}),
], ids=["thread-create", "thread-modify", "message-create", "message-modify"])
def test_unknown_field_elsewhere(client: openai.OpenAI, thread: Any, message: Any,
                                 call: Callable[..., Any]) -> None:
    error = bad_request(lambda: call(client, thread, message), param="foo",
                        code="unknown_parameter")
    assert body_of(error)["message"] == "Unrecognized request argument supplied: foo"


def test_unknown_field_on_modify_changes_nothing(client: openai.OpenAI) -> None:
    original = client.beta.assistants.create(model=MODEL, name="keep")
    bad_request(lambda: client.beta.assistants.update(original.id, name="changed",
                                                      extra_body={"foo": 1}),
                param="foo", code="unknown_parameter")
    assert client.beta.assistants.retrieve(original.id).model_dump() == original.model_dump()


def test_unknown_field_inside_a_tool(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "code_interpreter", "foo": 1}]),
        param="tools[0].foo", code="unknown_parameter")
    assert assistant_ids(client) == []


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize("extra, param", [
    ({"name": 5}, "name"),
    ({"description": ["x"]}, "description"),
    ({"instructions": {"a": 1}}, "instructions"),
    ({"tools": {"type": "code_interpreter"}}, "tools"),
    ({"tools": "code_interpreter"}, "tools"),
    ({"tools": ["code_interpreter"]}, "tools[0]"),
    ({"metadata": ["a", "b"]}, "metadata"),
    ({"temperature": "hot"}, "temperature"),
    ({"temperature": "0.5"}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"top_p": "1"}, "top_p"),
    ({"model": 4}, "model"),
    ({"model": None}, "model"),
    ({"response_format": 3}, "response_format"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_wrong_type_on_create(client: openai.OpenAI, extra: dict[str, Any], param: str) -> None:
    error = bad_request(lambda: client.beta.assistants.create(model=MODEL, extra_body=extra),
                        param=param)
    assert body_of(error)["code"] in ("invalid_type", "invalid_value"), error.body
    assert assistant_ids(client) == []


def test_metadata_value_as_int(client: openai.OpenAI) -> None:
    error = bad_request(lambda: client.beta.assistants.create(
        model=MODEL, extra_body={"metadata": {"count": 3}}), param_prefix="metadata")
    assert body_of(error)["code"] in ("invalid_type", "invalid_value"), error.body
    assert assistant_ids(client) == []


def test_wrong_type_on_modify_changes_nothing(client: openai.OpenAI) -> None:
    original = client.beta.assistants.create(model=MODEL, name="keep", temperature=0.3)
    bad_request(lambda: client.beta.assistants.update(original.id, extra_body={"name": 5}),
                param="name", code="invalid_type")
    bad_request(lambda: client.beta.assistants.update(
        original.id, extra_body={"temperature": "warm"}), param="temperature")
    bad_request(lambda: client.beta.assistants.update(
        original.id, name="changed", extra_body={"tools": "nope"}), param="tools")
    assert client.beta.assistants.retrieve(original.id).model_dump() == original.model_dump()


@pytest.mark.parametrize("content, param", [
    (5, "content"),
    ({"type": "text", "text": "x"}, "content"),
    ([{"type": "text", "text": 5}], "content[0].text"),
    ([{"type": "text"}], "content[0].text"),
    ([{"type": "video", "video": "x"}], "content[0].type"),
], ids=["int", "object", "text-int", "text-missing", "unknown-part"])
def test_message_content_wrong_shape(client: openai.OpenAI, thread: Any, content: Any,
                                     param: str) -> None:
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x", extra_body={"content": content}), param=param)
    assert client.beta.threads.messages.list(thread.id).data == []


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize("call", [
    lambda c: c.beta.assistants.retrieve("thread_abc"),
    lambda c: c.beta.assistants.update("thread_abc", name="x"),
    lambda c: c.beta.assistants.delete("thread_abc"),
], ids=["retrieve", "update", "delete"])
def test_assistant_id_with_wrong_prefix(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = bad_request(lambda: call(client), param="assistant_id", code="invalid_value")
    assert body_of(error)["message"] == (
        "Invalid 'assistant_id': 'thread_abc'. Expected an ID that begins with 'asst'."
    )


@pytest.mark.parametrize("call", [
    lambda c: c.beta.threads.retrieve("asst_abc"),
    lambda c: c.beta.threads.update("asst_abc", metadata={"a": "b"}),
    lambda c: c.beta.threads.delete("asst_abc"),
    lambda c: c.beta.threads.messages.list("asst_abc"),
    lambda c: c.beta.threads.messages.create("asst_abc", role="user", content="x"),
], ids=["retrieve", "update", "delete", "list-messages", "create-message"])
def test_thread_id_with_wrong_prefix(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = bad_request(lambda: call(client), param="thread_id", code="invalid_value")
    assert body_of(error)["message"] == (
        "Invalid 'thread_id': 'asst_abc'. Expected an ID that begins with 'thread'."
    )


@pytest.mark.parametrize("call", [
    lambda c, t: c.beta.threads.messages.retrieve("asst_abc", thread_id=t),
    lambda c, t: c.beta.threads.messages.update("asst_abc", thread_id=t, metadata={"a": "b"}),
    lambda c, t: c.beta.threads.messages.delete("asst_abc", thread_id=t),
], ids=["retrieve", "update", "delete"])
def test_message_id_with_wrong_prefix(client: openai.OpenAI, thread: Any,
                                      call: Callable[..., Any]) -> None:
    error = bad_request(lambda: call(client, thread.id), param="message_id",
                        code="invalid_value")
    assert body_of(error)["message"] == (
        "Invalid 'message_id': 'asst_abc'. Expected an ID that begins with 'msg'."
    )


@pytest.mark.parametrize("call", [
    lambda c: c.files.retrieve("asst_abc"),
    lambda c: c.files.content("asst_abc"),
    lambda c: c.files.delete("asst_abc"),
], ids=["retrieve", "content", "delete"])
def test_file_id_with_wrong_prefix(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = bad_request(lambda: call(client), param="file_id", code="invalid_value")
    assert body_of(error)["message"] == (
        "Invalid 'file_id': 'asst_abc'. Expected an ID that begins with 'file-'."
    )


@pytest.mark.parametrize("call", [
    lambda c: c.beta.assistants.retrieve(UNKNOWN_ASSISTANT),
    lambda c: c.beta.assistants.update(UNKNOWN_ASSISTANT, name="x"),
    lambda c: c.beta.assistants.delete(UNKNOWN_ASSISTANT),
], ids=["retrieve", "update", "delete"])
def test_unknown_assistant_id(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = raises(openai.NotFoundError, lambda: call(client))
    assert error.status_code == 404
    assert body_of(error)["message"] == f"No assistant found with id '{UNKNOWN_ASSISTANT}'."
    assert assistant_ids(client) == []


@pytest.mark.parametrize("call", [
    lambda c: c.beta.threads.retrieve(UNKNOWN_THREAD),
    lambda c: c.beta.threads.update(UNKNOWN_THREAD, metadata={"a": "b"}),
    lambda c: c.beta.threads.delete(UNKNOWN_THREAD),
    lambda c: c.beta.threads.messages.list(UNKNOWN_THREAD),
    lambda c: c.beta.threads.messages.create(UNKNOWN_THREAD, role="user", content="x"),
], ids=["retrieve", "update", "delete", "list-messages", "create-message"])
def test_unknown_thread_id(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = raises(openai.NotFoundError, lambda: call(client))
    assert body_of(error)["message"] == f"No thread found with id '{UNKNOWN_THREAD}'."


@pytest.mark.parametrize("call", [
    lambda c, t: c.beta.threads.messages.retrieve(UNKNOWN_MESSAGE, thread_id=t),
    lambda c, t: c.beta.threads.messages.update(UNKNOWN_MESSAGE, thread_id=t,
                                                metadata={"a": "b"}),
    lambda c, t: c.beta.threads.messages.delete(UNKNOWN_MESSAGE, thread_id=t),
], ids=["retrieve", "update", "delete"])
def test_unknown_message_id(client: openai.OpenAI, thread: Any,
                            call: Callable[..., Any]) -> None:
    error = raises(openai.NotFoundError, lambda: call(client, thread.id))
    assert body_of(error)["message"] == f"No message found with id '{UNKNOWN_MESSAGE}'."


@pytest.mark.parametrize("call", [
    lambda c: c.files.retrieve(UNKNOWN_FILE),
    lambda c: c.files.content(UNKNOWN_FILE),
    lambda c: c.files.delete(UNKNOWN_FILE),
], ids=["retrieve", "content", "delete"])
def test_unknown_file_id(client: openai.OpenAI, call: Callable[..., Any]) -> None:
    error = raises(openai.NotFoundError, lambda: call(client))
    assert body_of(error)["message"] == f"No file found with id '{UNKNOWN_FILE}'."


def test_message_of_another_thread_is_not_found(client: openai.OpenAI, message: Any) -> None:
    other = client.beta.threads.create()
    error = raises(openai.NotFoundError,
                   lambda: client.beta.threads.messages.retrieve(message.id, thread_id=other.id))
    assert body_of(error)["message"] == f"No message found with id '{message.id}'."


# --------------------------------------------------------------------------- metadata limits


@pytest.mark.parametrize("metadata", [
    {f"k{i}": "v" for i in range(17)},
    {"k" * 65: "v"},
    {"k": "v" * 513},
], ids=["17-keys", "key-65", "value-513"])
def test_metadata_limits(client: openai.OpenAI, thread: Any, message: Any,
                         metadata: dict[str, str]) -> None:
    bad_request(lambda: client.beta.assistants.create(model=MODEL, metadata=metadata),
                param_prefix="metadata")
    assert assistant_ids(client) == []
    bad_request(lambda: client.beta.threads.create(metadata=metadata), param_prefix="metadata")
    bad_request(lambda: client.beta.threads.update(thread.id, metadata=metadata),
                param_prefix="metadata")
    assert client.beta.threads.retrieve(thread.id).metadata == {"fixture": "yes"}
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x", metadata=metadata), param_prefix="metadata")
    bad_request(lambda: client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata=metadata), param_prefix="metadata")
    assert client.beta.threads.messages.retrieve(
        message.id, thread_id=thread.id).metadata == {"k": "v"}
    assert [m.id for m in client.beta.threads.messages.list(thread.id)] == [message.id]


def test_metadata_exactly_at_limits(client: openai.OpenAI) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    created = client.beta.assistants.create(model=MODEL, metadata=metadata)
    assert client.beta.assistants.retrieve(created.id).metadata == metadata


# --------------------------------------------------------------------------- list arguments


@pytest.mark.parametrize("kwargs, param", [
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": -1}, "limit"),
    ({"order": "sideways"}, "order"),
], ids=["limit-0", "limit-101", "limit-neg", "order-sideways"])
def test_list_arguments(client: openai.OpenAI, thread: Any, kwargs: dict[str, Any],
                        param: str) -> None:
    bad_request(lambda: client.beta.assistants.list(**kwargs), param=param)
    bad_request(lambda: client.beta.threads.messages.list(thread.id, **kwargs), param=param)


def test_list_limit_not_a_number(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.list(extra_query={"limit": "ten"}),
                param="limit")


def test_list_limit_bounds_succeed(client: openai.OpenAI) -> None:
    assert client.beta.assistants.list(limit=1).data == []
    assert client.beta.assistants.list(limit=100).data == []


def test_list_unknown_cursor(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.list(after=UNKNOWN_ASSISTANT), param="after")
    bad_request(lambda: client.beta.assistants.list(before=UNKNOWN_ASSISTANT), param="before")


def test_files_list_arguments(client: openai.OpenAI) -> None:
    bad_request(lambda: client.files.list(limit=0), param="limit")
    bad_request(lambda: client.files.list(order="sideways"), param="order")


# --------------------------------------------------------------------------- string lengths


@pytest.mark.parametrize("field, limit", [
    ("name", 256),
    ("description", 512),
    ("instructions", 256_000),
])
def test_string_length_limits(client: openai.OpenAI, field: str, limit: int) -> None:
    bad_request(lambda: client.beta.assistants.create(model=MODEL, **{field: "x" * (limit + 1)}),
                param=field, code="invalid_value")
    assert assistant_ids(client) == []

    at_limit = client.beta.assistants.create(model=MODEL, **{field: "y" * limit})
    assert getattr(at_limit, field) == "y" * limit

    bad_request(lambda: client.beta.assistants.update(at_limit.id, **{field: "z" * (limit + 1)}),
                param=field)
    assert client.beta.assistants.retrieve(at_limit.id).model_dump() == at_limit.model_dump()
    assert assistant_ids(client) == [at_limit.id]


def test_failed_modify_leaves_the_original(client: openai.OpenAI) -> None:
    original = client.beta.assistants.create(
        model=MODEL, name="original", instructions="be brief", metadata={"a": "1"},
        tools=[{"type": "code_interpreter"}],
    )
    bad_request(lambda: client.beta.assistants.update(original.id, name="x" * 257), param="name")
    bad_request(lambda: client.beta.assistants.update(
        original.id, name="ok", metadata={f"k{i}": "v" for i in range(17)}),
        param_prefix="metadata")
    bad_request(lambda: client.beta.assistants.update(
        original.id, name="ok", tools=[{"type": "browser"}]),
        param="tools[0].type")
    bad_request(lambda: client.beta.assistants.update(original.id, model=""), param="model")
    assert client.beta.assistants.retrieve(original.id).model_dump() == original.model_dump()


def test_empty_model_refused(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.create(model=""), param="model")
    assert assistant_ids(client) == []


# --------------------------------------------------------------------------- tools


def test_tool_count_limit(client: openai.OpenAI) -> None:
    tools = [function_tool(f"fn_{i}") for i in range(129)]
    bad_request(lambda: client.beta.assistants.create(model=MODEL, tools=tools),
                param="tools")
    assert assistant_ids(client) == []
    created = client.beta.assistants.create(model=MODEL, tools=tools[:128])
    assert len(created.tools) == 128
    bad_request(lambda: client.beta.assistants.update(created.id, tools=tools),
                param="tools")
    assert len(client.beta.assistants.retrieve(created.id).tools) == 128


def test_unknown_tool_type(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "browser"}]),
        param="tools[0].type", code="invalid_value")
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "code_interpreter"}, {"kind": "function"}]),
        param="tools[1].type")
    assert assistant_ids(client) == []


@pytest.mark.parametrize("name", ["bad name", "", "x" * 65, "dots.not.allowed", "é"])
def test_function_tool_with_invalid_name(client: openai.OpenAI, name: str) -> None:
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "code_interpreter"}, function_tool(name)]),
        param="tools[1].function.name", code="invalid_value")
    assert assistant_ids(client) == []


def test_function_tool_without_function(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "function"}]),
        param="tools[0].function", code="missing_required_parameter")


def test_function_tool_name_at_limit(client: openai.OpenAI) -> None:
    name = "a-Z_0" + "x" * 59
    created = client.beta.assistants.create(model=MODEL, tools=[function_tool(name)])
    assert created.tools[0].function.name == name


def test_file_search_settings_out_of_range(client: openai.OpenAI) -> None:
    bad_request(lambda: client.beta.assistants.create(
        model=MODEL, tools=[{"type": "file_search", "file_search": {"max_num_results": 51}}]),
        param="tools[0].file_search.max_num_results")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("extra, param", [
    ({"temperature": 1e308}, "temperature"),
    ({"temperature": -1e308}, "temperature"),
    ({"temperature": 10**400}, "temperature"),
    ({"temperature": 2.0000001}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
], ids=["1e308", "-1e308", "10**400", "over-2", "negative", "top_p-1.5"])
def test_numbers_out_of_range(client: openai.OpenAI, extra: dict[str, Any], param: str) -> None:
    bad_request(lambda: client.beta.assistants.create(model=MODEL, extra_body=extra),
                param=param)
    assert assistant_ids(client) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_temperature(api_base: str, api_key: str, client: openai.OpenAI,
                                literal: str) -> None:
    body = f'{{"model": "{MODEL}", "temperature": {literal}}}'.encode()
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=body,
                                    content_type="application/json", key=api_key)
    assert status == 400, decoded
    assert_openai_error(status, headers, decoded, 400)
    assert assistant_ids(client) == []


# --------------------------------------------------------------------------- files


def test_empty_file_upload(client: openai.OpenAI) -> None:
    bad_request(lambda: client.files.create(file=("empty.txt", b""), purpose="assistants"),
                param="file")
    assert file_ids(client) == []


def test_file_over_the_limit(client: openai.OpenAI) -> None:
    bad_request(lambda: client.files.create(
        file=("big.bin", b"\0" * (MAX_FILE_BYTES + 1)), purpose="assistants"), param="file")
    assert file_ids(client) == []


def test_file_exactly_at_the_limit(client: openai.OpenAI) -> None:
    created = client.files.create(file=("max.bin", b"\1" * MAX_FILE_BYTES), purpose="assistants")
    assert created.bytes == MAX_FILE_BYTES
    assert file_ids(client) == [created.id]


def test_unknown_purpose(client: openai.OpenAI) -> None:
    bad_request(lambda: client.files.create(
        file=("a.txt", b"abc"), purpose="nonsense"),
        param="purpose", code="invalid_value")
    assert file_ids(client) == []


def test_missing_file_part(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    boundary = "treadleboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            f"assistants\r\n--{boundary}--\r\n").encode()
    status, headers, decoded = http(api_base, "POST", "/v1/files", body=body, key=api_key,
                                    content_type=f"multipart/form-data; boundary={boundary}")
    assert_openai_error(status, headers, decoded, 400, param="file")
    assert file_ids(client) == []


def test_half_an_expiry(client: openai.OpenAI) -> None:
    bad_request(lambda: client.files.create(
        file=("a.txt", b"abc"), purpose="assistants",
        extra_body={"expires_after[anchor]": "created_at"}), param_prefix="expires_after")
    bad_request(lambda: client.files.create(
        file=("a.txt", b"abc"), purpose="assistants",
        extra_body={"expires_after[anchor]": "created_at", "expires_after[seconds]": "10"}),
        param_prefix="expires_after")
    assert file_ids(client) == []


# --------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("path", ["/v1/assistants", "/v1/threads"])
@pytest.mark.parametrize("body", [b"{bad", b'{"model": "gpt-4o",}', b"\xff\xfe", b"[1, 2"],
                         ids=["brace", "trailing-comma", "not-utf8", "open-array"])
def test_malformed_json(api_base: str, api_key: str, client: openai.OpenAI, path: str,
                        body: bytes) -> None:
    status, headers, decoded = http(api_base, "POST", path, body=body,
                                    content_type="application/json", key=api_key)
    error = assert_openai_error(status, headers, decoded, 400)
    assert "JSON" in error["message"]
    assert assistant_ids(client) == []


def test_malformed_json_on_modify(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    original = client.beta.assistants.create(model=MODEL, name="keep")
    status, headers, decoded = http(api_base, "POST", f"/v1/assistants/{original.id}",
                                    body=b'{"name": ', content_type="application/json",
                                    key=api_key)
    assert_openai_error(status, headers, decoded, 400)
    assert client.beta.assistants.retrieve(original.id).model_dump() == original.model_dump()


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"42", b"null"],
                         ids=["array", "string", "number", "null"])
def test_json_body_not_an_object(api_base: str, api_key: str, client: openai.OpenAI,
                                 body: bytes) -> None:
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=body,
                                    content_type="application/json", key=api_key)
    assert_openai_error(status, headers, decoded, 400)
    assert assistant_ids(client) == []


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
])
def test_wrong_content_type(api_base: str, api_key: str, client: openai.OpenAI,
                            content_type: str) -> None:
    body = json.dumps({"model": MODEL}).encode()
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=body,
                                    content_type=content_type, key=api_key)
    error = assert_openai_error(status, headers, decoded, 400)
    assert error["code"] == "unsupported_content_type"
    assert assistant_ids(client) == []


def test_json_upload_to_files(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    body = json.dumps({"purpose": "assistants", "file": "abc"}).encode()
    status, headers, decoded = http(api_base, "POST", "/v1/files", body=body,
                                    content_type="application/json", key=api_key)
    assert_openai_error(status, headers, decoded, 400)
    assert file_ids(client) == []


# --------------------------------------------------------------------------- required fields


def test_missing_model(client: openai.OpenAI) -> None:
    error = bad_request(lambda: client.post("/assistants", body={}, cast_to=object),
                        param="model", code="missing_required_parameter")
    assert body_of(error)["message"] == "Missing required parameter: 'model'."
    assert assistant_ids(client) == []


def test_empty_json_body(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=b"{}",
                                    content_type="application/json", key=api_key)
    assert_openai_error(status, headers, decoded, 400, param="model")
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", key=api_key,
                                    body=b"")
    assert_openai_error(status, headers, decoded, 400, param="model")
    assert assistant_ids(client) == []


@pytest.mark.parametrize("missing", ["role", "content"])
def test_message_missing_required(client: openai.OpenAI, thread: Any, missing: str) -> None:
    body = {"role": "user", "content": "hi"}
    del body[missing]
    bad_request(lambda: client.post(f"/threads/{thread.id}/messages", body=body, cast_to=object),
                param=missing, code="missing_required_parameter")
    assert client.beta.threads.messages.list(thread.id).data == []


# --------------------------------------------------------------------------- messages


def test_message_content_empty_list(client: openai.OpenAI, thread: Any) -> None:
    bad_request(lambda: client.beta.threads.messages.create(thread.id, role="user", content=[]),
                param="content")
    assert client.beta.threads.messages.list(thread.id).data == []


@pytest.mark.parametrize("role", ["system", "tool", "USER", ""])
def test_message_role_refused(client: openai.OpenAI, thread: Any, role: str) -> None:
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role=role, content="x"),
        param="role", code="invalid_value")
    assert client.beta.threads.messages.list(thread.id).data == []


def test_attachment_with_unknown_file(client: openai.OpenAI, thread: Any) -> None:
    unknown = bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x",
        attachments=[{"file_id": UNKNOWN_FILE, "tools": [{"type": "code_interpreter"}]}]))
    malformed = bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x",
        attachments=[{"file_id": "asst_abc", "tools": [{"type": "code_interpreter"}]}]))
    assert client.beta.threads.messages.list(thread.id).data == []
    assert UNKNOWN_FILE in body_of(unknown)["message"]
    assert body_of(unknown)["param"] == "attachments[0].file_id", unknown.body
    assert body_of(malformed)["param"] == "attachments[0].file_id", malformed.body


def test_attachment_with_another_projects_file(client: openai.OpenAI,
                                               other_client: openai.OpenAI,
                                               thread: Any) -> None:
    theirs = other_client.files.create(file=("t.txt", b"theirs"), purpose="assistants")
    error = bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x",
        attachments=[{"file_id": theirs.id, "tools": [{"type": "file_search"}]}]))
    assert client.beta.threads.messages.list(thread.id).data == []
    assert body_of(error)["param"] == "attachments[0].file_id", error.body


def test_attachment_bad_shape(client: openai.OpenAI, thread: Any, uploaded: Any) -> None:
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x",
        attachments=[{"file_id": uploaded.id, "tools": [{"type": "function"}]}]),
        param="attachments[0].tools[0].type")
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="x",
        attachments=[{"tools": [{"type": "file_search"}]}]),
        param="attachments[0].file_id", code="missing_required_parameter")
    assert client.beta.threads.messages.list(thread.id).data == []


def test_image_file_part_with_unknown_file(client: openai.OpenAI, thread: Any) -> None:
    error = bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user",
        content=[{"type": "text", "text": "look"},
                 {"type": "image_file", "image_file": {"file_id": UNKNOWN_FILE}}]))
    assert client.beta.threads.messages.list(thread.id).data == []
    assert UNKNOWN_FILE in body_of(error)["message"]
    assert body_of(error)["param"] == "content[1].image_file.file_id", error.body


def test_image_parts_bad_shape(client: openai.OpenAI, thread: Any, uploaded: Any) -> None:
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user",
        content=[{"type": "image_file", "image_file": {"file_id": uploaded.id,
                                                        "detail": "ultra"}}]),
        param="content[0].image_file.detail")
    bad_request(lambda: client.beta.threads.messages.create(
        thread.id, role="user",
        content=[{"type": "image_url", "image_url": {"url": "not a url"}}]),
        param="content[0].image_url.url")
    assert client.beta.threads.messages.list(thread.id).data == []


def test_failed_message_modify_changes_nothing(client: openai.OpenAI, thread: Any,
                                               message: Any) -> None:
    bad_request(lambda: client.beta.threads.messages.update(
        message.id, thread_id=thread.id, extra_body={"content": "rewritten"}),
        param="content", code="unknown_parameter")
    bad_request(lambda: client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"k": "v" * 513}), param_prefix="metadata")
    after = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert after.model_dump() == message.model_dump()


# --------------------------------------------------------------------------- threads


def _threads_marked(database_url: str, marker: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM threads WHERE metadata->>'marker' = %s",
                           (marker,)).fetchone()
    assert row is not None
    return int(row[0])


def _messages_marked(database_url: str, marker: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM messages WHERE metadata->>'marker' = %s",
                           (marker,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("bad, param", [
    ({"role": "system", "content": "x"}, "messages[1].role"),
    ({"role": "user", "content": []}, "messages[1].content"),
    ({"role": "user", "content": "x", "foo": 1}, "messages[1].foo"),
    ({"role": "user", "content": "x",
      "attachments": [{"file_id": UNKNOWN_FILE, "tools": [{"type": "file_search"}]}]},
     "messages[1].attachments[0].file_id"),
    ({"role": "user",
      "content": [{"type": "image_file", "image_file": {"file_id": UNKNOWN_FILE}}]},
     "messages[1].content[0].image_file.file_id"),
], ids=["role-system", "empty-content", "unknown-field", "attachment-unknown-file",
        "image-unknown-file"])
def test_thread_create_with_a_bad_message_stores_nothing(
    client: openai.OpenAI, database_url: str, bad: dict[str, Any], param: str
) -> None:
    marker = uuid.uuid4().hex
    good = {"role": "user", "content": "fine", "metadata": {"marker": marker}}
    bad = {**bad, "metadata": {"marker": marker}}
    error = bad_request(lambda: client.beta.threads.create(
        messages=[good, bad], metadata={"marker": marker}))
    assert _threads_marked(database_url, marker) == 0
    assert _messages_marked(database_url, marker) == 0
    assert body_of(error)["param"] == param, error.body

    # The same request without the bad message stores exactly one thread and message.
    created = client.beta.threads.create(messages=[good], metadata={"marker": marker})
    assert _threads_marked(database_url, marker) == 1
    assert _messages_marked(database_url, marker) == 1
    assert len(client.beta.threads.messages.list(created.id).data) == 1


def test_thread_messages_wrong_type(client: openai.OpenAI, database_url: str) -> None:
    marker = uuid.uuid4().hex
    bad_request(lambda: client.beta.threads.create(
        metadata={"marker": marker}, extra_body={"messages": "hello"}), param="messages")
    bad_request(lambda: client.beta.threads.create(
        metadata={"marker": marker}, extra_body={"messages": ["hello"]}),
        param_prefix="messages[0]")
    assert _threads_marked(database_url, marker) == 0


def test_thread_tool_resources_unknown_file(client: openai.OpenAI, database_url: str) -> None:
    marker = uuid.uuid4().hex
    bad_request(lambda: client.beta.threads.create(
        metadata={"marker": marker},
        tool_resources={"code_interpreter": {"file_ids": [UNKNOWN_FILE]}}),
        param="tool_resources.code_interpreter.file_ids[0]")
    assert _threads_marked(database_url, marker) == 0


def test_failed_thread_modify_changes_nothing(client: openai.OpenAI, thread: Any) -> None:
    bad_request(lambda: client.beta.threads.update(
        thread.id, tool_resources={"code_interpreter": {"file_ids": [UNKNOWN_FILE]}},
        metadata={"changed": "yes"}), param="tool_resources.code_interpreter.file_ids[0]")
    assert client.beta.threads.retrieve(thread.id).model_dump() == thread.model_dump()


# --------------------------------------------------------------------------- auth


def test_wrong_api_key(api_base: str) -> None:
    bad = openai.OpenAI(base_url=f"{api_base}/v1", api_key="sk-treadle-not-a-real-key",
                        max_retries=0)
    error = raises(openai.AuthenticationError, lambda: bad.beta.assistants.list())
    assert error.status_code == 401
    assert body_of(error)["code"] == "invalid_api_key"
    assert "not-a-real-key" not in body_of(error)["message"]
    raises(openai.AuthenticationError, lambda: bad.beta.assistants.create(model=MODEL))
    raises(openai.AuthenticationError, lambda: bad.files.list())


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer sk-treadle-nope"},
], ids=["none", "basic", "bearer-empty", "bearer-wrong"])
def test_missing_or_wrong_key_over_http(api_base: str, headers: dict[str, str]) -> None:
    status, got, body = http(api_base, "GET", "/v1/assistants", headers=headers)
    assert_openai_error(status, got, body, 401)


def test_bad_key_wins_over_bad_body(api_base: str) -> None:
    status, got, body = http(api_base, "POST", "/v1/assistants", body=b"{bad",
                             content_type="application/json", key="sk-treadle-nope")
    assert_openai_error(status, got, body, 401)


# --------------------------------------------------------------------------- URLs and headers


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/nonexistent"),
    ("POST", "/v1/nonexistent"),
    ("GET", "/v1/assistants/asst_x/extra"),
    ("GET", "/nowhere"),
])
def test_unknown_url(api_base: str, api_key: str, method: str, path: str) -> None:
    status, headers, body = http(api_base, method, path, key=api_key,
                                 body=b"{}" if method == "POST" else None,
                                 content_type="application/json" if method == "POST" else None)
    error = assert_openai_error(status, headers, body, 404, param=None)
    assert error["message"] == f"Invalid URL ({method} {path})"


def test_unknown_url_through_the_sdk(client: openai.OpenAI) -> None:
    error = raises(openai.NotFoundError, lambda: client.get("/nonexistent", cast_to=object))
    assert body_of(error)["message"] == "Invalid URL (GET /v1/nonexistent)"


def test_method_not_allowed(api_base: str, api_key: str) -> None:
    status, headers, body = http(api_base, "PUT", "/v1/assistants", key=api_key)
    assert_openai_error(status, headers, body, 405)
    status, headers, body = http(api_base, "DELETE", "/v1/assistants", key=api_key)
    assert_openai_error(status, headers, body, 405)


def test_every_response_has_a_request_id(api_base: str, api_key: str,
                                         client: openai.OpenAI) -> None:
    seen = set()
    for method, path, key, body in [
        ("GET", "/v1/assistants", api_key, None),          # 200
        ("GET", "/health", None, None),                     # 200 outside /v1
        ("GET", "/v1/assistants", None, None),              # 401
        ("GET", "/v1/assistants/thread_x", api_key, None),  # 400
        ("GET", f"/v1/assistants/{UNKNOWN_ASSISTANT}", api_key, None),  # 404
        ("GET", "/v1/nonexistent", api_key, None),          # 404 route
        ("PUT", "/v1/assistants", api_key, None),           # 405
        ("POST", "/v1/assistants", api_key, b"{bad"),       # 400 JSON
    ]:
        status, headers, _ = http(api_base, method, path, key=key, body=body,
                                  content_type="application/json" if body else None)
        assert status < 500
        request_id = headers.get("x-request-id")
        assert request_id, (method, path, status)
        seen.add(request_id)
    assert len(seen) == 8, "request ids must differ per request"

    response = client.beta.assistants.with_raw_response.list()
    assert response.headers.get("x-request-id")


# --------------------------------------------------------------------------- no 5xx


NUL = "a\u0000b"


@pytest.mark.parametrize("field", ["name", "description", "instructions", "model"])
def test_nul_in_assistant_text(client: openai.OpenAI, field: str) -> None:
    """A NUL is either stored exactly or refused as a 400 naming the field; never a 5xx."""
    kwargs: dict[str, Any] = {"model": MODEL, field: NUL}
    try:
        created = client.beta.assistants.create(**kwargs)
    except openai.BadRequestError as error:
        assert assistant_ids(client) == []
        assert error.param == field, error.body
    else:
        assert getattr(client.beta.assistants.retrieve(created.id), field) == NUL


def test_nul_in_assistant_metadata(client: openai.OpenAI) -> None:
    try:
        created = client.beta.assistants.create(model=MODEL, metadata={"k": NUL})
    except openai.BadRequestError as error:
        assert assistant_ids(client) == []
        assert (error.param or "").startswith("metadata"), error.body
    else:
        assert client.beta.assistants.retrieve(created.id).metadata == {"k": NUL}


def test_nul_in_modify_changes_nothing(client: openai.OpenAI) -> None:
    original = client.beta.assistants.create(model=MODEL, name="keep")
    try:
        client.beta.assistants.update(original.id, name=NUL)
    except openai.BadRequestError as error:
        assert client.beta.assistants.retrieve(original.id).model_dump() == original.model_dump()
        assert error.param == "name", error.body
    else:
        assert client.beta.assistants.retrieve(original.id).name == NUL


def test_nul_in_message_content(client: openai.OpenAI, thread: Any) -> None:
    try:
        created = client.beta.threads.messages.create(thread.id, role="user", content=NUL)
    except openai.BadRequestError as error:
        assert client.beta.threads.messages.list(thread.id).data == []
        assert (error.param or "").startswith("content"), error.body
    else:
        fetched = client.beta.threads.messages.retrieve(created.id, thread_id=thread.id)
        assert fetched.content[0].text.value == NUL


def test_nul_in_second_thread_message_stores_nothing(client: openai.OpenAI,
                                                     database_url: str) -> None:
    marker = uuid.uuid4().hex
    try:
        created = client.beta.threads.create(
            metadata={"marker": marker},
            messages=[{"role": "user", "content": "fine", "metadata": {"marker": marker}},
                      {"role": "user", "content": NUL, "metadata": {"marker": marker}}])
    except openai.BadRequestError as error:
        assert _threads_marked(database_url, marker) == 0
        assert _messages_marked(database_url, marker) == 0
        assert error.param == "messages[1].content", error.body
    else:
        assert len(client.beta.threads.messages.list(created.id).data) == 2


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_nul_in_url_ids(api_base: str, api_key: str, method: str) -> None:
    """An id holding a NUL cannot exist: 404, or a 400 that names the id."""
    body = b'{"name": "x"}' if method == "POST" else None
    status, headers, decoded = http(api_base, method, "/v1/assistants/asst_%00x", body=body,
                                    content_type="application/json", key=api_key)
    assert status in (400, 404), decoded
    error = assert_openai_error(status, headers, decoded, status)
    if status == 400:
        assert error["param"] == "assistant_id", decoded


def test_lone_surrogate_over_http(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    """The SDK cannot encode a lone surrogate, but raw JSON can carry one as an escape."""
    body = b'{"model": "gpt-4o", "name": "a\\ud800b"}'
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=body,
                                    content_type="application/json", key=api_key)
    assert status < 500, decoded
    if status != 200:
        assert assistant_ids(client) == []
        assert_openai_error(status, headers, decoded, 400, param="name")


def test_deeply_nested_json(api_base: str, api_key: str, client: openai.OpenAI) -> None:
    body = b'{"model": "gpt-4o", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, headers, decoded = http(api_base, "POST", "/v1/assistants", body=body,
                                    content_type="application/json", key=api_key)
    assert_openai_error(status, headers, decoded, 400)
    assert assistant_ids(client) == []


def test_failed_creates_leave_the_project_empty(client: openai.OpenAI) -> None:
    failures: list[Callable[[], Any]] = [
        lambda: client.beta.assistants.create(model=MODEL, name="x" * 257),
        lambda: client.beta.assistants.create(model=MODEL, extra_body={"foo": "bar"}),
        lambda: client.beta.assistants.create(model=MODEL, extra_body={"temperature": 3}),
        lambda: client.beta.assistants.create(model=MODEL, tools=[{"type": "nope"}]),
        lambda: client.beta.assistants.create(
            model=MODEL, tool_resources={"code_interpreter": {"file_ids": [UNKNOWN_FILE]}}),
        lambda: client.beta.assistants.create(
            model=MODEL, tool_resources={"file_search": {"vector_store_ids": ["asst_x"]}}),
        lambda: client.beta.assistants.create(model=MODEL, reasoning_effort="extreme"),
        lambda: client.beta.assistants.create(model=MODEL, response_format="json"),
        lambda: client.beta.assistants.create(
            model=MODEL, response_format={"type": "json_schema"}),
    ]
    for failure in failures:
        bad_request(failure)
    assert assistant_ids(client) == []


# --------------------------------------------------------------------------- tagged unions


@pytest.fixture
def stores(client: openai.OpenAI) -> Any:
    """`client.vector_stores` (openai 1.66+) or `client.beta.vector_stores` (up to 1.65)."""
    return getattr(client, "vector_stores", None) or client.beta.vector_stores


def _attachments(file_id: str, kind: Any) -> list[dict[str, Any]]:
    return [{"file_id": file_id, "tools": [{"type": kind}]}]


def _store_helper(kind: Any) -> dict[str, Any]:
    return {"file_search": {"vector_stores": [{"chunking_strategy": {"type": kind}}]}}


# (call, param): every operation whose body holds a tagged union, each union it holds.
# A call gets the client, the vector stores resource, the objects of `tagged_world`, the
# bad `type` and a marker that any thread it would create carries.
TAGGED_CALLS: list[Any] = [
    pytest.param(lambda c, s, w, k, m: c.beta.assistants.create(
        model=MODEL, extra_body={"response_format": {"type": k}}),
        "response_format.type", id="create-assistant-response_format"),
    pytest.param(lambda c, s, w, k, m: c.beta.assistants.create(
        model=MODEL, extra_body={"tools": [{"type": k}]}),
        "tools[0].type", id="create-assistant-tools"),
    pytest.param(lambda c, s, w, k, m: c.beta.assistants.create(
        model=MODEL, extra_body={"tool_resources": _store_helper(k)}),
        "tool_resources.file_search.vector_stores[0].chunking_strategy.type",
        id="create-assistant-tool_resources"),
    pytest.param(lambda c, s, w, k, m: c.beta.assistants.update(
        w["assistant"].id, extra_body={"tools": [{"type": "code_interpreter"}, {"type": k}]}),
        "tools[1].type", id="modify-assistant-tools"),
    pytest.param(lambda c, s, w, k, m: c.beta.assistants.update(
        w["assistant"].id, name="changed", extra_body={"response_format": {"type": k}}),
        "response_format.type", id="modify-assistant-response_format"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create(metadata={"marker": m}, extra_body={
        "messages": [{"role": "user", "content": "x",
                      "attachments": _attachments(w["file"].id, k)}]}),
        "messages[0].attachments[0].tools[0].type", id="create-thread-attachments"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create(metadata={"marker": m}, extra_body={
        "messages": [{"role": "user", "content": [{"type": k, "text": "x"}]}]}),
        "messages[0].content[0].type", id="create-thread-content"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create(
        metadata={"marker": m}, extra_body={"tool_resources": _store_helper(k)}),
        "tool_resources.file_search.vector_stores[0].chunking_strategy.type",
        id="create-thread-tool_resources"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create_and_run(
        assistant_id=w["assistant"].id, thread={"metadata": {"marker": m}},
        extra_body={"tools": [{"type": k}]}),
        "tools[0].type", id="create-thread-and-run-tools"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create_and_run(
        assistant_id=w["assistant"].id, thread={"metadata": {"marker": m}},
        extra_body={"response_format": {"type": k}}),
        "response_format.type", id="create-thread-and-run-response_format"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create_and_run(
        assistant_id=w["assistant"].id, thread={"metadata": {"marker": m}},
        extra_body={"tool_choice": {"type": k}}),
        "tool_choice.type", id="create-thread-and-run-tool_choice"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.create_and_run(
        assistant_id=w["assistant"].id, extra_body={"thread": {
            "metadata": {"marker": m}, "messages": [{
                "role": "user", "content": "x", "attachments": _attachments(w["file"].id, k)}]}}),
        "thread.messages[0].attachments[0].tools[0].type",
        id="create-thread-and-run-attachments"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.runs.create(
        w["thread"].id, assistant_id=w["assistant"].id, extra_body={"tools": [{"type": k}]}),
        "tools[0].type", id="create-run-tools"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.runs.create(
        w["thread"].id, assistant_id=w["assistant"].id,
        extra_body={"response_format": {"type": k}}),
        "response_format.type", id="create-run-response_format"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.runs.create(
        w["thread"].id, assistant_id=w["assistant"].id, extra_body={"tool_choice": {"type": k}}),
        "tool_choice.type", id="create-run-tool_choice"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.runs.create(
        w["thread"].id, assistant_id=w["assistant"].id, extra_body={"additional_messages": [
            {"role": "user", "content": "x", "attachments": _attachments(w["file"].id, k)}]}),
        "additional_messages[0].attachments[0].tools[0].type",
        id="create-run-additional_messages"),
    pytest.param(lambda c, s, w, k, m: c.beta.threads.messages.create(
        w["thread"].id, role="user", content="x",
        extra_body={"attachments": _attachments(w["file"].id, k)}),
        "attachments[0].tools[0].type", id="create-message-attachments"),
    pytest.param(lambda c, s, w, k, m: s.create(
        name="bad", extra_body={"chunking_strategy": {"type": k}}),
        "chunking_strategy.type", id="create-vector-store"),
    pytest.param(lambda c, s, w, k, m: s.files.create(
        vector_store_id=w["store"].id, file_id=w["file"].id,
        extra_body={"chunking_strategy": {"type": k}}),
        "chunking_strategy.type", id="create-vector-store-file"),
    pytest.param(lambda c, s, w, k, m: s.file_batches.create(
        vector_store_id=w["store"].id, file_ids=[w["file"].id],
        extra_body={"chunking_strategy": {"type": k}}),
        "chunking_strategy.type", id="create-file-batch"),
    pytest.param(lambda c, s, w, k, m: s.file_batches.create(
        vector_store_id=w["store"].id, file_ids=[w["file"].id], extra_body={
            "files": [{"file_id": w["file"].id, "chunking_strategy": {"type": k}}]}),
        "files[0].chunking_strategy.type", id="create-file-batch-files"),
]


@pytest.fixture
def tagged_world(client: openai.OpenAI, stores: Any, uploaded: Any) -> dict[str, Any]:
    return {"assistant": client.beta.assistants.create(model=MODEL, name="keep"),
            "thread": client.beta.threads.create(), "store": stores.create(name="keep"),
            "file": uploaded}


def _tagged_state(client: openai.OpenAI, stores: Any, world: dict[str, Any],
                  database_url: str, marker: str) -> Any:
    thread_id, store_id = world["thread"].id, world["store"].id
    return ([a.model_dump() for a in client.beta.assistants.list()],
            [m.id for m in client.beta.threads.messages.list(thread_id)],
            [r.id for r in client.beta.threads.runs.list(thread_id)],
            [s.id for s in stores.list()],
            [f.id for f in stores.files.list(vector_store_id=store_id)],
            _threads_marked(database_url, marker))


@pytest.mark.parametrize("kind, got", [({}, "an object"), ([], "an array"),
                                       (["auto"], "an array")],
                         ids=["object", "array", "array-of-string"])
@pytest.mark.parametrize("call, param", TAGGED_CALLS)
def test_tagged_union_type_that_is_no_string(
        client: openai.OpenAI, stores: Any, tagged_world: dict[str, Any], database_url: str,
        call: Callable[..., Any], param: str, kind: Any, got: str) -> None:
    """An object or array `type` is a 400 naming it (it was an unhashable lookup: a 500)."""
    marker = uuid.uuid4().hex
    before = _tagged_state(client, stores, tagged_world, database_url, marker)
    error = bad_request(lambda: call(client, stores, tagged_world, kind, marker),
                        param=param, code="invalid_value")
    message = body_of(error)["message"]
    assert message.startswith(f"Invalid '{param}': Invalid type: expected a string, but got "
                              f"{got}. Supported values are: '"), message
    assert _tagged_state(client, stores, tagged_world, database_url, marker) == before
    assert before[-1] == 0


@pytest.mark.parametrize("call, param", TAGGED_CALLS)
def test_tagged_union_unknown_type(client: openai.OpenAI, stores: Any,
                                   tagged_world: dict[str, Any], database_url: str,
                                   call: Callable[..., Any], param: str) -> None:
    marker = uuid.uuid4().hex
    before = _tagged_state(client, stores, tagged_world, database_url, marker)
    error = bad_request(lambda: call(client, stores, tagged_world, "nonsense", marker),
                        param=param, code="invalid_value")
    assert body_of(error)["message"].startswith(
        f"Invalid '{param}': Invalid value: 'nonsense'. Supported values are: '")
    assert _tagged_state(client, stores, tagged_world, database_url, marker) == before
