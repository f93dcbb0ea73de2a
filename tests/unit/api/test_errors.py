"""Translation of marshmallow/webargs messages into OpenAI error bodies."""
from typing import Any

import psycopg
import pytest
from flask import Flask
from marshmallow import ValidationError

from api.assistants.schemas import CreateAssistant, ModifyAssistant
from api.errors import render, validation_error
from api.messages.schemas import CreateMessage
from api.runs.schemas import CreateRun, CreateThreadAndRun
from api.threads.schemas import CreateThread
from api.vector_stores.schemas import CreateFileBatch, CreateVectorStore, CreateVectorStoreFile
from shared.errors import (
    AuthenticationError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    TreadleError,
)


def body_errors(schema: Any, data: Any) -> dict[str, Any]:
    """What webargs hands the error handler for a JSON body `schema` refuses."""
    with pytest.raises(ValidationError) as info:
        schema.load(data)
    return {"json": info.value.messages}


# --------------------------------------------------------------------------- the mapping


@pytest.mark.parametrize("messages, param, code, message", [
    ({"json": {"foo": ["Unknown field."]}}, "foo", "unknown_parameter",
     "Unrecognized request argument supplied: foo"),
    ({"json": {"model": ["Missing data for required field."]}}, "model",
     "missing_required_parameter", "Missing required parameter: 'model'."),
    ({"json": {"model": ["Field may not be null."]}}, "model", "invalid_type",
     "Invalid type for 'model': expected a value, but got null instead."),
    ({"json": {"name": ["Not a valid string."]}}, "name", "invalid_type",
     "Invalid type for 'name': expected a string."),
    ({"json": {"tools": ["Not a valid list."]}}, "tools", "invalid_type",
     "Invalid type for 'tools': expected an array."),
    ({"json": {"temperature": ["Not a valid number."]}}, "temperature", "invalid_type",
     "Invalid type for 'temperature': expected a number."),
    ({"query": {"limit": ["Not a valid integer."]}}, "limit", "invalid_type",
     "Invalid type for 'limit': expected an integer."),
    ({"json": {"strict": ["Not a valid boolean."]}}, "strict", "invalid_type",
     "Invalid type for 'strict': expected a boolean."),
    ({"json": {"metadata": ["Not a valid mapping type."]}}, "metadata", "invalid_type",
     "Invalid type for 'metadata': expected an object."),
    ({"json": {"content": ["Not a valid string or list of content parts."]}}, "content",
     "invalid_type", "Invalid type for 'content': expected a string or an array of content "
     "parts."),
    ({"query": {"order": ["Must be one of: asc, desc."]}}, "order", "invalid_value",
     "Invalid 'order': Must be one of: asc, desc."),
    ({"form": {"purpose": ["Must be one of: assistants."]}}, "purpose", "invalid_value",
     "Invalid 'purpose': Must be one of: assistants."),
])
def test_flat_messages(messages: dict[str, Any], param: str, code: str, message: str) -> None:
    error = validation_error(messages)
    assert isinstance(error, InvalidRequestError)
    assert (error.param, error.code, error.message) == (param, code, message)
    assert error.status == 400 and error.type == "invalid_request_error"


@pytest.mark.parametrize("messages, param", [
    ({"json": {"tools": {0: {"function": {"name": ["Bad."]}}}}}, "tools[0].function.name"),
    ({"json": {"tools": {3: {"type": ["Bad."]}}}}, "tools[3].type"),
    ({"json": {"messages": {1: {"content": {0: {"image_file": {"detail": ["Bad."]}}}}}}},
     "messages[1].content[0].image_file.detail"),
    ({"json": {"tool_resources": {"code_interpreter": {"file_ids": {2: ["Bad."]}}}}},
     "tool_resources.code_interpreter.file_ids[2]"),
    ({"json": {"metadata": {"k": {"value": ["Bad."]}}}}, "metadata.k.value"),
    ({"form": {"expires_after[seconds]": ["Bad."]}}, "expires_after[seconds]"),
])
def test_nested_paths(messages: dict[str, Any], param: str) -> None:
    error = validation_error(messages)
    assert error.param == param
    assert error.code == "invalid_value"
    assert error.message == f"Invalid '{param}': Bad."


def test_nested_unknown_field() -> None:
    error = validation_error({"json": {"tools": {0: {"foo": ["Unknown field."]}}}})
    assert (error.param, error.code) == ("tools[0].foo", "unknown_parameter")
    assert error.message == "Unrecognized request argument supplied: tools[0].foo"


def test_nested_missing_field() -> None:
    error = validation_error(
        {"json": {"tools": {0: {"function": ["Missing data for required field."]}}}}
    )
    assert (error.param, error.code) == ("tools[0].function", "missing_required_parameter")


def test_schema_level_error_names_the_parent() -> None:
    error = validation_error({"json": {"tools": {0: {"_schema": ["Bad tool."]}}}})
    assert error.param == "tools[0]"
    assert error.message == "Invalid 'tools[0]': Bad tool."


def test_whole_body_of_the_wrong_type() -> None:
    error = validation_error({"json": {"_schema": ["Invalid input type."]}})
    assert error.param is None
    assert error.code == "invalid_type"
    assert error.message == "Invalid request body: expected an object."


def test_invalid_json_body() -> None:
    error = validation_error({"json": ["Invalid JSON body."]})
    assert error.param is None
    assert error.status == 400 and error.type == "invalid_request_error"
    assert "could not parse the JSON body" in error.message


def test_only_the_first_complaint_is_reported() -> None:
    error = validation_error({"json": {"name": ["Not a valid string."],
                                       "model": ["Missing data for required field."]}})
    assert error.param == "name"


def test_empty_messages_do_not_crash() -> None:
    cases: list[dict[str, Any]] = [{}, {"json": {}}, {"json": []}, {"json": {"name": []}}]
    for messages in cases:
        error = validation_error(messages)
        assert isinstance(error, InvalidRequestError)
        assert error.message


# --------------------------------------------------------------------------- real schema errors


@pytest.mark.parametrize("schema, data, param, code", [
    (CreateAssistant(), {"model": "m", "foo": 1}, "foo", "unknown_parameter"),
    (CreateAssistant(), {}, "model", "missing_required_parameter"),
    (CreateAssistant(), {"model": None}, "model", "invalid_type"),
    (CreateAssistant(), {"model": "m", "name": 5}, "name", "invalid_type"),
    (CreateAssistant(), {"model": "m", "tools": {}}, "tools", "invalid_type"),
    (CreateAssistant(), {"model": "m", "name": "x" * 257}, "name", "invalid_value"),
    (CreateAssistant(), {"model": "m", "temperature": 2.5}, "temperature", "invalid_value"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": "browser"}]}, "tools[0].type",
     "invalid_value"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": "code_interpreter"}, {
        "type": "function", "function": {"name": "bad name"}}]},
     "tools[1].function.name", "invalid_value"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": "function"}]}, "tools[0].function",
     "missing_required_parameter"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": "code_interpreter", "x": 1}]},
     "tools[0].x", "unknown_parameter"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": "file_search", "file_search": {
        "max_num_results": 0}}]}, "tools[0].file_search.max_num_results", "invalid_value"),
    (CreateAssistant(), {"model": "m", "metadata": {f"k{i}": "v" for i in range(17)}},
     "metadata", "invalid_value"),
    (CreateAssistant(), {"model": "m", "tool_resources": {"code_interpreter": {
        "file_ids": [5]}}}, "tool_resources.code_interpreter.file_ids[0]", "invalid_type"),
    (CreateAssistant(), {"model": "m", "response_format": {"type": "json_schema",
                                                           "json_schema": {}}},
     "response_format.json_schema.name", "missing_required_parameter"),
    (ModifyAssistant(), {"reasoning_effort": "extreme"}, "reasoning_effort", "invalid_value"),
    (CreateMessage(), {"role": "system", "content": "x"}, "role", "invalid_value"),
    (CreateMessage(), {"role": "user", "content": []}, "content", "invalid_value"),
    (CreateMessage(), {"role": "user", "content": 5}, "content", "invalid_type"),
    (CreateMessage(), {"role": "user", "content": [{"type": "text", "text": "a"},
                                                   {"type": "text"}]},
     "content[1].text", "missing_required_parameter"),
    (CreateMessage(), {"role": "user", "content": "x", "attachments": [{"tools": []}]},
     "attachments[0].file_id", "missing_required_parameter"),
    (CreateThread(), {"messages": [{"role": "user", "content": "x"},
                                   {"role": "user", "content": "x", "foo": 1}]},
     "messages[1].foo", "unknown_parameter"),
    (CreateThread(), {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
     "messages[0].content[0].image_url.url", "invalid_value"),
])
def test_real_schema_errors(schema: Any, data: Any, param: str, code: str) -> None:
    error = validation_error(body_errors(schema, data))
    assert (error.param, error.code) == (param, code), error.message
    assert param in error.message


OBJECT, ARRAY = "an object", "an array"


@pytest.mark.parametrize("schema, data, param, got, supported", [
    (CreateAssistant(), {"model": "m", "response_format": {"type": {}}},
     "response_format.type", OBJECT, "'text', 'json_object', 'json_schema'"),
    (CreateAssistant(), {"model": "m", "tools": [{"type": []}]}, "tools[0].type", ARRAY,
     "'code_interpreter', 'file_search', 'function'"),
    (ModifyAssistant(), {"tools": [{"type": "function", "function": {"name": "f"}},
                                   {"type": {}}]}, "tools[1].type", OBJECT,
     "'code_interpreter', 'file_search', 'function'"),
    (CreateThread(), {"messages": [{"role": "user", "content": "x", "attachments": [
        {"file_id": "file-abc", "tools": [{"type": {}}]}]}]},
     "messages[0].attachments[0].tools[0].type", OBJECT, "'code_interpreter', 'file_search'"),
    (CreateThread(), {"tool_resources": {"file_search": {"vector_stores": [
        {"chunking_strategy": {"type": []}}]}}},
     "tool_resources.file_search.vector_stores[0].chunking_strategy.type", ARRAY,
     "'auto', 'static'"),
    (CreateThreadAndRun(), {"assistant_id": "asst_a", "tool_choice": {"type": {}}},
     "tool_choice.type", OBJECT, "'function', 'file_search', 'code_interpreter'"),
    (CreateRun(), {"assistant_id": "asst_a", "response_format": {"type": []}},
     "response_format.type", ARRAY, "'text', 'json_object', 'json_schema'"),
    (CreateMessage(), {"role": "user", "content": "x", "attachments": [
        {"file_id": "file-abc", "tools": [{"type": {}}]}]},
     "attachments[0].tools[0].type", OBJECT, "'code_interpreter', 'file_search'"),
    (CreateMessage(), {"role": "user", "content": [{"type": ["text"]}]}, "content[0].type",
     ARRAY, "'text', 'image_file', 'image_url'"),
    (CreateVectorStore(), {"chunking_strategy": {"type": {}}}, "chunking_strategy.type",
     OBJECT, "'auto', 'static'"),
    (CreateVectorStoreFile(), {"file_id": "file-abc", "chunking_strategy": {"type": []}},
     "chunking_strategy.type", ARRAY, "'auto', 'static'"),
    (CreateFileBatch(), {"files": [{"file_id": "file-abc", "chunking_strategy": {"type": {}}}]},
     "files[0].chunking_strategy.type", OBJECT, "'auto', 'static'"),
])
def test_type_that_is_no_string(schema: Any, data: Any, param: str, got: str,
                                supported: str) -> None:
    """A tagged union's `type` given as an object or array: a 400 naming it, worded as an
    unknown type's is."""
    error = validation_error(body_errors(schema, data))
    assert (error.param, error.code, error.status) == (param, "invalid_value", 400)
    assert error.message == (f"Invalid '{param}': Invalid type: expected a string, but got "
                             f"{got}. Supported values are: {supported}.")


# --------------------------------------------------------------------------- error classes


@pytest.mark.parametrize("cls, status, kind", [
    (InvalidRequestError, 400, "invalid_request_error"),
    (AuthenticationError, 401, "invalid_request_error"),
    (NotFoundError, 404, "invalid_request_error"),
    (MethodNotAllowedError, 405, "invalid_request_error"),
    (ServerError, 500, "server_error"),
    (ServiceUnavailableError, 503, "server_error"),
])
def test_error_classes(cls: type[TreadleError], status: int, kind: str) -> None:
    error = cls("went wrong", param="p", code="c")
    assert isinstance(error, TreadleError)
    assert error.status == status
    assert error.to_dict() == {"error": {"message": "went wrong", "type": kind,
                                         "param": "p", "code": "c"}}


def test_default_codes() -> None:
    assert AuthenticationError("no").code == "invalid_api_key"
    assert InvalidRequestError("no").code is None
    assert InvalidRequestError("no").param is None


def test_render_builds_the_response() -> None:
    app = Flask(__name__)
    with app.app_context():
        response = render(NotFoundError("No assistant found with id 'asst_x'."))
    assert response.status_code == 404
    assert response.get_json() == {"error": {
        "message": "No assistant found with id 'asst_x'.", "type": "invalid_request_error",
        "param": None, "code": None,
    }}


def test_storage_data_errors_are_client_errors() -> None:
    from api.app import create_app

    app = create_app()
    with app.test_request_context("/v1/assistants", method="POST"):
        from api.errors import _unexpected

        response = _unexpected(psycopg.DataError("bad value\nCONTEXT: detail"))
        assert response.status_code == 400
        assert response.get_json()["error"]["type"] == "invalid_request_error"
        assert "\n" not in response.get_json()["error"]["message"]
        response = _unexpected(RuntimeError("boom"))
        assert response.status_code == 500
        assert response.get_json()["error"] == {
            "message": "The server had an error while processing your request.",
            "type": "server_error", "param": None, "code": None,
        }
