"""Input items into stored items: OpenAI's shapes normalised, every refusal naming its field."""
from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.items.inputs import MAX_TEXT_CHARS, file_references, parse_item, parse_items


def _without_id(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "id"}


def test_string_content_becomes_one_part_of_the_roles_kind() -> None:
    user, assistant = parse_items([{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "hello"}], "items")
    assert _without_id(user) == {"type": "message", "status": "completed", "role": "user",
                                 "content": [{"type": "input_text", "text": "hi"}]}
    assert _without_id(assistant) == {
        "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "hello", "annotations": []}]}


@pytest.mark.parametrize("item, prefix", [
    ({"role": "developer", "content": "x"}, "msg_"),
    ({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}, "fc_"),
    ({"type": "function_call_output", "call_id": "c", "output": "o"}, "fco_"),
    ({"type": "file_search_call", "queries": [], "status": "searching"}, "fs_"),
    ({"type": "code_interpreter_call", "code": None, "container_id": "c", "outputs": None,
      "status": "interpreting"}, "ci_"),
])
def test_each_type_gets_ids_of_its_prefix(item: dict[str, Any], prefix: str) -> None:
    first, second = parse_item(item, "items[0]"), parse_item(item, "items[0]")
    assert first["id"].startswith(prefix) and len(first["id"]) == len(prefix) + 24
    assert first["id"] != second["id"]
    assert _without_id(first) == _without_id(second)


def test_an_item_reference_keeps_the_id_it_names_until_storage_resolves_it() -> None:
    """OpenAI's item reference may leave out its `type`; an `id` alone is still one."""
    assert parse_items([{"type": "item_reference", "id": "msg_theirs"}, {"id": "fc_1"}],
                       "input") == [{"type": "item_reference", "id": "msg_theirs"},
                                    {"type": "item_reference", "id": "fc_1"}]


def test_an_echoed_id_is_dropped_and_a_given_status_kept() -> None:
    item = parse_item({"type": "message", "id": "msg_theirs", "role": "assistant",
                       "status": "incomplete", "phase": "commentary",
                       "content": [{"type": "refusal", "refusal": "no"}]}, "input[0]")
    assert item["id"] != "msg_theirs"
    assert item["status"] == "incomplete" and item["phase"] == "commentary"
    assert item["content"] == [{"type": "refusal", "refusal": "no"}]


def test_input_parts_are_completed_with_their_defaults() -> None:
    item = parse_item({"role": "user", "content": [
        {"type": "input_image", "file_id": "file-1"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": None},
        {"type": "input_file", "file_data": "aGk=", "filename": "a.txt", "detail": "low"},
        {"type": "input_file", "file_id": "file-2", "file_data": None},
    ]}, "items[0]")
    assert item["content"] == [
        {"type": "input_image", "detail": "auto", "file_id": "file-1", "image_url": None},
        {"type": "input_image", "detail": "auto", "file_id": None,
         "image_url": "data:image/png;base64,AAAA"},
        {"type": "input_file", "filename": "a.txt", "file_data": "aGk=", "detail": "low"},
        {"type": "input_file", "file_id": "file-2"},
    ]


def test_output_items_keep_what_they_carry() -> None:
    search = parse_item({"type": "file_search_call", "queries": ["q"], "status": "completed",
                         "results": [{"file_id": "file-1", "score": 1, "attributes": {
                             "n": 2, "b": False}}]}, "items[0]")
    assert search["results"] == [{"file_id": "file-1", "score": 1,
                                  "attributes": {"n": 2, "b": False}}]
    interpreter = parse_item({"type": "code_interpreter_call", "code": "1+1",
                              "container_id": "c", "status": "completed",
                              "outputs": [{"type": "logs", "logs": "2"}]}, "items[0]")
    assert interpreter["outputs"] == [{"type": "logs", "logs": "2"}]
    annotated = parse_item({"role": "assistant", "content": [{
        "type": "output_text", "text": "see", "logprobs": [{"token": "s"}], "annotations": [
            {"type": "url_citation", "url": "https://x", "title": "X", "start_index": 0,
             "end_index": 3},
            {"type": "container_file_citation", "container_id": "c", "file_id": "f",
             "filename": "a", "start_index": 0, "end_index": 1},
            {"type": "file_path", "file_id": "f", "index": 2}]}]}, "items[0]")
    [part] = annotated["content"]
    assert [a["type"] for a in part["annotations"]] == [
        "url_citation", "container_file_citation", "file_path"]
    assert part["logprobs"] == [{"token": "s"}]
    output = parse_item({"type": "function_call_output", "call_id": "c", "output": [
        {"type": "input_text", "text": "t"}]}, "items[0]")
    assert output["output"] == [{"type": "input_text", "text": "t"}]


REFUSED: list[tuple[Any, str, str]] = [
    ("text", "items[0]", "invalid_type"),
    ({"type": "web_search_call"}, "items[0].type", "invalid_value"),
    ({"type": None}, "items[0].type", "invalid_type"),
    ({"role": "user"}, "items[0].content", "missing_required_parameter"),
    ({"role": "user", "content": "x", "id": 5}, "items[0].id", "invalid_type"),
    ({"type": "item_reference"}, "items[0].id", "missing_required_parameter"),
    ({"type": "item_reference", "id": 7}, "items[0].id", "invalid_type"),
    ({"type": "item_reference", "id": "msg_x", "role": "user"}, "items[0].role",
     "unknown_parameter"),
    ({"id": "msg_x", "status": "completed"}, "items[0].status", "unknown_parameter"),
    ({"role": "user", "id": "msg_x"}, "items[0].content", "missing_required_parameter"),
    ({"role": "user", "content": "x", "phase": "draft"}, "items[0].phase", "invalid_value"),
    ({"role": "user", "content": [{"text": "x"}]}, "items[0].content[0].type",
     "missing_required_parameter"),
    ({"role": "user", "content": ["x"]}, "items[0].content[0]", "invalid_type"),
    ({"role": "user", "content": [{"type": "input_text", "text": "x", "cache": 1}]},
     "items[0].content[0].cache", "unknown_parameter"),
    ({"role": "user", "content": [{"type": "input_text", "text": None}]},
     "items[0].content[0].text", "invalid_type"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "f",
                                   "image_url": "https://x"}]},
     "items[0].content[0]", "invalid_value"),
    ({"role": "user", "content": [{"type": "input_file"}]}, "items[0].content[0]",
     "invalid_value"),
    ({"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [
        {"type": "file_path", "file_id": "f", "index": True}]}]},
     "items[0].content[0].annotations[0].index", "invalid_type"),
    ({"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [
        {"type": "footnote"}]}]}, "items[0].content[0].annotations[0].type", "invalid_value"),
    ({"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [],
                                        "logprobs": [1]}]},
     "items[0].content[0].logprobs[0]", "invalid_type"),
    ({"type": "function_call_output", "call_id": "c", "output": 3}, "items[0].output",
     "invalid_type"),
    ({"type": "function_call", "call_id": "c" * 65, "name": "f", "arguments": "{}"},
     "items[0].call_id", "string_above_max_length"),
    ({"type": "file_search_call", "queries": [1], "status": "completed"},
     "items[0].queries[0]", "invalid_type"),
    ({"type": "file_search_call", "queries": [], "status": "completed",
      "results": [{"score": "high"}]}, "items[0].results[0].score", "invalid_type"),
    ({"type": "file_search_call", "queries": [], "status": "completed",
      "results": [{"attributes": {"k": [1]}}]}, "items[0].results[0].attributes.k",
     "invalid_type"),
    ({"type": "code_interpreter_call", "container_id": "c", "outputs": None,
      "status": "completed"}, "items[0].code", "missing_required_parameter"),
    ({"type": "code_interpreter_call", "code": None, "container_id": "c", "status": "failed",
      "outputs": [{"type": "logs"}]}, "items[0].outputs[0].logs", "missing_required_parameter"),
]


@pytest.mark.parametrize("item, param, code", REFUSED, ids=[r[1] for r in REFUSED])
def test_refusals_name_the_field(item: Any, param: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_items([item], "items")
    assert (info.value.param, info.value.code) == (param, code), info.value.message
    assert info.value.status == 400


def test_refusal_wording() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_item({"role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
                   "input[1]")
    assert info.value.message == (
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.")
    with pytest.raises(InvalidRequestError) as info:
        parse_items({"role": "user"}, "items")
    assert info.value.message == (
        "Invalid type for 'items': expected an array, but got an object instead.")


def test_text_longer_than_openais_cap_is_refused() -> None:
    parse_item({"role": "user", "content": "x" * MAX_TEXT_CHARS}, "items[0]")
    with pytest.raises(InvalidRequestError) as info:
        parse_item({"role": "user", "content": "x" * (MAX_TEXT_CHARS + 1)}, "items[0]")
    assert info.value.param == "items[0].content"
    assert info.value.code == "string_above_max_length"


def test_file_references_name_the_input_fields() -> None:
    items = parse_items([
        {"role": "user", "content": "no files"},
        {"role": "user", "content": [{"type": "input_text", "text": "x"},
                                     {"type": "input_image", "file_id": "file-a"},
                                     {"type": "input_image", "image_url": "https://x/i.png"},
                                     {"type": "input_file", "file_id": "file-b"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [
            {"type": "file_path", "file_id": "file-c", "index": 0}]}]},
        {"type": "function_call_output", "call_id": "c", "output": [
            {"type": "input_file", "file_id": "file-d"}]},
        {"type": "function_call_output", "call_id": "c", "output": "file-e"},
    ], "input")
    assert file_references(items, "input") == [
        ("file-a", "input[1].content[1].file_id"), ("file-b", "input[1].content[3].file_id"),
        ("file-d", "input[3].output[0].file_id")]
