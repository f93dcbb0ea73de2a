"""The payloads of a run's events, built from folded streams and tool results."""
import json
from typing import Any

from workers.runs import payloads
from workers.runs.stream_fold import Pending, StreamFold, ToolCall

CITATION = {"type": "file_citation", "text": "【0:0†policy.pdf】", "start_index": 14,
            "end_index": 30, "file_citation": {"file_id": "file-abc"}}
LINK = {"type": "file_path", "text": "sandbox:/mnt/data/out.csv", "start_index": 40,
        "end_index": 65, "file_path": {"file_id": "file-csv"}}


def test_stream_deltas_of_text_and_calls() -> None:
    # Index 1 pending before index 0: the wire lists calls in index order.
    pending = Pending(text="Hello", calls={
        1: {"index": 1, "type": "function", "function": {"arguments": "}"}},
        0: {"index": 0, "type": "function", "function": {"arguments": "{"}},
    })

    assert payloads.stream_deltas("msg_1", "step_1", pending) == [
        ("thread.message.delta", {
            "id": "msg_1", "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "text",
                                   "text": {"value": "Hello", "annotations": []}}]}}),
        ("thread.run.step.delta", {
            "id": "step_1", "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [
                {"index": 0, "type": "function", "function": {"arguments": "{"}},
                {"index": 1, "type": "function", "function": {"arguments": "}"}}]}}}),
    ]


def test_stream_deltas_send_only_what_has_somewhere_to_go() -> None:
    assert payloads.stream_deltas("msg_1", "step_1", Pending()) == []
    assert payloads.stream_deltas(None, "step_1", Pending(text="Hi")) == []
    only_text = payloads.stream_deltas("msg_1", None, Pending(
        text="Hi", calls={0: {"index": 0}}))
    assert [name for name, _ in only_text] == ["thread.message.delta"]


def test_stream_deltas_on_the_wire() -> None:
    # A recorded text-then-call stream, flushed twice, as events.publish serialises it.
    fold = StreamFold()
    fold.add({"choices": [{"index": 0, "delta": {"content": "Let me check."},
                           "finish_reason": None}]})
    first = payloads.stream_deltas("msg_A", "step_B", fold.take_pending())
    fold.add({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]}, "finish_reason": None}]})
    fold.add({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '{"city": "Zürich"}'}}]},
        "finish_reason": "tool_calls"}]})
    second = payloads.stream_deltas("msg_A", "step_B", fold.take_pending())

    wire = [(name, json.dumps(data, separators=(",", ":")))
            for name, data in [*first, *second]]
    assert wire == [
        ("thread.message.delta",
         '{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,'
         '"type":"text","text":{"value":"Let me check.","annotations":[]}}]}}'),
        ("thread.run.step.delta",
         '{"id":"step_B","object":"thread.run.step.delta","delta":{"step_details":'
         '{"type":"tool_calls","tool_calls":[{"index":0,"id":"call_1","type":"function",'
         '"function":{"name":"get_weather","arguments":"{\\"city\\": \\"Z\\u00fcrich\\"}",'
         '"output":null}}]}}}'),
    ]


def test_text_content() -> None:
    assert payloads.text_content("Hi") == [
        {"type": "text", "text": {"value": "Hi", "annotations": []}}]


def test_final_content_text_annotations_then_images() -> None:
    assert payloads.final_content("See policy", [CITATION, LINK], ["file-img1", "file-img2"]
                                    ) == [
        {"type": "text", "text": {"value": "See policy", "annotations": [CITATION, LINK]}},
        {"type": "image_file", "image_file": {"file_id": "file-img1"}},
        {"type": "image_file", "image_file": {"file_id": "file-img2"}},
    ]


def test_final_content_without_text() -> None:
    assert payloads.final_content("", [], ["file-img1"]) == [
        {"type": "image_file", "image_file": {"file_id": "file-img1"}}]
    assert payloads.final_content("", [], []) == []


def test_content_delta_after_streamed_text_sends_annotations_and_images() -> None:
    content = payloads.final_content("See policy", [CITATION, LINK], ["file-img1"])

    assert payloads.content_delta("msg_1", content, streamed_text=True) == (
        "thread.message.delta", {"id": "msg_1", "object": "thread.message.delta", "delta": {
            "content": [
                {"index": 0, "type": "text", "text": {"annotations": [
                    {"index": 0, **CITATION}, {"index": 1, **LINK}]}},
                {"index": 1, "type": "image_file", "image_file": {"file_id": "file-img1"}},
            ]}})


def test_content_delta_of_plain_streamed_text_is_none() -> None:
    content = payloads.final_content("Plain answer", [], [])

    assert payloads.content_delta("msg_1", content, streamed_text=True) is None


def test_content_delta_of_unstreamed_text_sends_it_whole() -> None:
    content = payloads.final_content("Drawn:", [], ["file-img1"])

    assert payloads.content_delta("msg_1", content, streamed_text=False) == (
        "thread.message.delta", {"id": "msg_1", "object": "thread.message.delta", "delta": {
            "content": [
                {"index": 0, "type": "text", "text": {"value": "Drawn:", "annotations": []}},
                {"index": 1, "type": "image_file", "image_file": {"file_id": "file-img1"}},
            ]}})


def ran(code: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "call_code", "type": "code_interpreter",
            "code_interpreter": {"input": code, "outputs": outputs}}


def test_code_run_delta_sends_the_unshown_input_and_the_outputs() -> None:
    entry = ran("x = 1\nprint(x)", [{"type": "logs", "logs": "1\n"},
                                    {"type": "image", "image": {"file_id": "file-img1"}}])

    assert payloads.code_run_delta("step_1", 2, "x = 1\n", entry) == (
        "thread.run.step.delta", {
            "id": "step_1", "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
                "index": 2, "type": "code_interpreter", "code_interpreter": {
                    "input": "print(x)",
                    "outputs": [{"index": 0, "type": "logs", "logs": "1\n"},
                                {"index": 1, "type": "image",
                                 "image": {"file_id": "file-img1"}}]}}]}}})


def test_code_run_delta_when_what_was_shown_is_not_the_input() -> None:
    _, data = payloads.code_run_delta("step_1", 0, "y = 2", ran("x = 1", []))

    assert data["delta"]["step_details"]["tool_calls"][0]["code_interpreter"] == {
        "input": "", "outputs": []}


def test_required_action() -> None:
    calls = [ToolCall("call_paris", "get_weather", '{"city": "Paris"}', ""),
             ToolCall("call_oslo", "get_weather", '{"city": "Oslo"}', "")]

    assert payloads.required_action(calls) == {
        "type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": "call_paris", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_oslo", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        ]}}
