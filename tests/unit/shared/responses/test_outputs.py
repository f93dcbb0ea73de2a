"""Output items from run rows shaped as the run loop writes them (workers/runs/loop.py,
workers/runs/tools/*): checked against the SDK's own item types and the item parser."""
import json
from typing import Any

import pydantic
import pytest

from shared.items.inputs import parse_items
from shared.items.wire import INCLUDABLE
from shared.responses.outputs import output_items

responses = pytest.importorskip("openai.types.responses")

THREAD = "resp_0123456789abcdefghijklmn"
CALL = "call_AAAAAAAAAAAAAAAAAAAAAAAA"
SEARCH = "call_BBBBBBBBBBBBBBBBBBBBBBBB"
CODE = "call_CCCCCCCCCCCCCCCCCCCCCCCC"
CITED = "Paris is the capital.【0:0†guide.txt】 See sandbox:/mnt/data/plot.csv."


def _step(step_id: str, status: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "run_id": THREAD, "thread_id": THREAD, "status": status,
            "type": details["type"], "step_details": details}


def _message_step(step_id: str, message_id: str, status: str = "completed") -> dict[str, Any]:
    return _step(step_id, status, {"type": "message_creation",
                                   "message_creation": {"message_id": message_id}})


def _message(message_id: str, text: str, annotations: list[dict[str, Any]],
             status: str = "completed") -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": {"value": text, "annotations": annotations}},
        {"type": "image_file", "image_file": {"file_id": "file-img"}}]
    return {"id": message_id, "status": status, "role": "assistant", "content": content}


SEARCH_CALL = {
    "id": SEARCH, "type": "file_search", "_search": 0,
    "_arguments": json.dumps({"query": "capital of France"}), "_output": "Results...",
    "file_search": {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                    "results": [{"file_id": "file-guide", "file_name": "guide.txt",
                                 "score": 0.91,
                                 "_content": [{"type": "text", "text": "Paris is..."}]}]}}
CODE_CALL = {
    "id": CODE, "type": "code_interpreter", "_arguments": '{"code": "print(1)"}',
    "_output": "1", "_files": {"plot.csv": "file-csv"},
    "code_interpreter": {"input": "print(1)", "outputs": [
        {"type": "logs", "logs": "1\n"}, {"type": "image", "image": {"file_id": "file-img"}}]}}
FUNCTION_CALL = {"id": CALL, "type": "function", "function": {
    "name": "get_weather", "arguments": '{"city": "Paris"}', "output": None}}
ANNOTATIONS = [
    {"type": "file_citation", "text": "【0:0†guide.txt】", "start_index": CITED.index("【"),
     "end_index": CITED.index("】") + 1,
     "file_citation": {"file_id": "file-guide"}},
    {"type": "file_path", "text": "sandbox:/mnt/data/plot.csv",
     "start_index": CITED.index("sandbox"),
     "end_index": CITED.index(".csv") + 4, "file_path": {"file_id": "file-csv"}},
]


def _run() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    steps = [
        _step("step_1", "completed", {"type": "tool_calls",
                                      "tool_calls": [SEARCH_CALL, CODE_CALL]}),
        _message_step("step_2", "msg_withdrawn", status="failed"),
        _message_step("step_3", "msg_answer"),
        _step("step_4", "completed", {"type": "tool_calls", "tool_calls": [FUNCTION_CALL]}),
    ]
    messages = {"msg_withdrawn": _message("msg_withdrawn", "Par", [], status="incomplete"),
                "msg_answer": _message("msg_answer", CITED, ANNOTATIONS)}
    return steps, messages


def _sdk_items(items: list[dict[str, Any]]) -> list[Any]:
    adapter = pydantic.TypeAdapter(responses.ResponseOutputItem)
    return [adapter.validate_python(item) for item in items]


def test_items_in_step_order_with_everything_included() -> None:
    steps, messages = _run()
    items = output_items(steps, messages, INCLUDABLE)
    assert [item["type"] for item in items] == [
        "file_search_call", "code_interpreter_call", "message", "function_call"]
    search, code, message, function = items
    assert search == {"id": "fs_BBBBBBBBBBBBBBBBBBBBBBBB", "type": "file_search_call",
                      "status": "completed", "queries": ["capital of France"],
                      "results": [{"file_id": "file-guide", "filename": "guide.txt",
                                   "score": 0.91, "text": "Paris is..."}]}
    assert code == {"id": "ci_CCCCCCCCCCCCCCCCCCCCCCCC", "type": "code_interpreter_call",
                    "status": "completed", "code": "print(1)",
                    "container_id": "cntr_0123456789abcdefghijklmn",
                    "outputs": [{"type": "logs", "logs": "1\n"},
                                {"type": "image", "url": "/v1/files/file-img/content"}]}
    assert message == {"id": "msg_answer", "type": "message", "role": "assistant",
                       "status": "completed", "content": [{
                           "type": "output_text", "text": CITED, "annotations": [
                               {"type": "file_citation", "file_id": "file-guide",
                                "filename": "guide.txt", "index": CITED.index("【")},
                               {"type": "container_file_citation",
                                "container_id": "cntr_0123456789abcdefghijklmn",
                                "file_id": "file-csv", "filename": "plot.csv",
                                "start_index": CITED.index("sandbox"),
                                "end_index": CITED.index(".csv") + 4}]}]}
    assert function == {"id": "fc_AAAAAAAAAAAAAAAAAAAAAAAA", "type": "function_call",
                        "status": "completed", "call_id": CALL, "name": "get_weather",
                        "arguments": '{"city": "Paris"}'}
    _sdk_items(items)


def test_results_and_outputs_only_when_included() -> None:
    steps, messages = _run()
    search, code, *_ = output_items(steps, messages, [])
    assert search["results"] is None
    assert code["outputs"] is None
    _sdk_items([search, code])
    assert output_items(steps, messages, ["code_interpreter_call.outputs"])[1]["outputs"]


def test_same_rows_same_items() -> None:
    steps, messages = _run()
    assert output_items(steps, messages, INCLUDABLE) == output_items(steps, messages,
                                                                     INCLUDABLE)


def test_items_parse_back_as_input_items() -> None:
    """The output goes into a conversation and comes back as a later response's input."""
    steps, messages = _run()
    items = output_items(steps, messages, INCLUDABLE)
    parsed = parse_items([{k: v for k, v in item.items() if k != "id"} for item in items],
                         "input")
    assert [item["type"] for item in parsed] == [item["type"] for item in items]
    assert parsed[2]["content"] == items[2]["content"]


def test_live_run_shows_what_is_written_so_far() -> None:
    steps = [_message_step("step_1", "msg_1", status="in_progress"),
             _step("step_2", "in_progress", {"type": "tool_calls", "tool_calls": []})]
    messages = {"msg_1": {"id": "msg_1", "status": "in_progress", "role": "assistant",
                          "content": []}}
    items = output_items(steps, messages, INCLUDABLE)
    assert items == [{"id": "msg_1", "type": "message", "role": "assistant",
                      "status": "in_progress", "content": []}]
    _sdk_items(items)


def test_cancelled_run_marks_its_calls_incomplete() -> None:
    steps = [_step("step_1", "cancelled", {"type": "tool_calls",
                                           "tool_calls": [SEARCH_CALL, FUNCTION_CALL]}),
             _message_step("step_2", "msg_1", status="cancelled")]
    messages = {"msg_1": _message("msg_1", "Half an ans", [], status="incomplete")}
    items = output_items(steps, messages, INCLUDABLE)
    assert [item["status"] for item in items] == ["incomplete", "incomplete", "incomplete"]
    _sdk_items(items)


def test_bad_search_arguments_give_no_query() -> None:
    call = {**SEARCH_CALL, "_arguments": "{not json"}
    steps = [_step("step_1", "completed", {"type": "tool_calls", "tool_calls": [call]})]
    assert output_items(steps, {}, INCLUDABLE)[0]["queries"] == []
