"""What a run's stream showed of an interrupted execution's open message and steps, folded
from recorded events, and when a model call taking over may carry on with the message."""
import json
from typing import Any

from shared.runs import streamed


def text_delta(message_id: str, text: str) -> tuple[str, str]:
    return ("thread.message.delta", json.dumps({
        "id": message_id, "object": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text",
                               "text": {"value": text, "annotations": []}}]}}))


def step_delta(step_id: str, calls: list[dict[str, Any]]) -> tuple[str, str]:
    return ("thread.run.step.delta", json.dumps({
        "id": step_id, "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": calls}}}))


def test_a_message_shows_its_deltas_appended_and_no_other_message_s() -> None:
    shown = streamed.fold([
        ("thread.run.in_progress", "{}"), text_delta("msg_a", "Echo: "),
        text_delta("msg_old", "elsewhere"), text_delta("msg_a", "kill trial"),
        ("done", "[DONE]")], ["msg_a", "msg_b"], [])
    assert shown.text("msg_a") == "Echo: kill trial"
    assert shown.content("msg_a") == [
        {"type": "text", "text": {"value": "Echo: kill trial", "annotations": []}}]
    assert shown.content("msg_b") == [] and shown.text("msg_b") == ""


def test_the_messages_and_steps_whose_creation_it_showed_are_announced() -> None:
    shown = streamed.fold([
        ("thread.run.step.created", json.dumps({"id": "step_m", "object": "thread.run.step"})),
        ("thread.message.created", json.dumps({"id": "msg_a", "object": "thread.message"})),
        text_delta("msg_a", "Echo"), text_delta("msg_b", "never created")],
        ["msg_a", "msg_b"], [])
    assert shown.announced == {"step_m", "msg_a"}
    assert shown.text("msg_b") == "never created"


def test_a_tool_step_shows_its_calls_merged_by_index() -> None:
    shown = streamed.fold([
        step_delta("step_t", [{"index": 0, "id": "call_1", "type": "function", "function": {
            "name": "f", "arguments": "", "output": None}}]),
        step_delta("step_t", [{"index": 0, "type": "function",
                               "function": {"arguments": '{"a": '}},
                              {"index": 1, "id": "call_2", "type": "function", "function": {
                                  "name": "g", "arguments": "{}", "output": None}}]),
        step_delta("step_t", [{"index": 0, "type": "function", "function": {"arguments": "1}"}}]),
    ], [], ["step_t"])
    assert shown.calls("step_t") == [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": '{"a": 1}', "output": None}},
        {"id": "call_2", "type": "function",
         "function": {"name": "g", "arguments": "{}", "output": None}}]


def test_code_input_and_outputs_accumulate() -> None:
    step = {"index": 0, "id": "call_c", "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []}}
    shown = streamed.fold([
        step_delta("step_c", [step]),
        step_delta("step_c", [{"index": 0, "type": "code_interpreter",
                               "code_interpreter": {"input": "print(1)"}}]),
        step_delta("step_c", [{"index": 0, "type": "code_interpreter", "code_interpreter": {
            "input": "", "outputs": [{"index": 0, "type": "logs", "logs": "1\n"}]}}]),
    ], [], ["step_c"])
    assert shown.calls("step_c") == [{"id": "call_c", "type": "code_interpreter",
                                      "code_interpreter": {"input": "print(1)", "outputs": [
                                          {"index": 0, "type": "logs", "logs": "1\n"}]}}]


def test_a_call_agrees_while_one_text_starts_the_other() -> None:
    assert streamed.agrees("", "Echo: kill")
    assert streamed.agrees("Echo", "Echo: kill")
    assert streamed.agrees("Echo: kill", "Echo: kill")
    assert streamed.agrees("Echo: kill trial", "Echo: kill")
    assert streamed.agrees("anything", "")
    assert not streamed.agrees("Echo: kilt", "Echo: kill")
    assert not streamed.agrees("Hello", "Echo: kill")


def test_the_carried_message_is_the_one_its_open_step_created() -> None:
    message = {"id": "msg_a", "content": [
        {"type": "text", "text": {"value": "Echo", "annotations": []}}]}
    text_step = {"id": "step_m", "type": "message_creation",
                 "step_details": {"type": "message_creation",
                                  "message_creation": {"message_id": "msg_a"}}}
    tool_step = {"id": "step_t", "type": "tool_calls", "step_details": {}}
    carried = streamed.carried([message], [text_step, tool_step])
    assert carried == streamed.Carried(message, text_step, "Echo")
    assert streamed.carried([], [tool_step]) is None
