"""The payloads a run's execution publishes and stores, built apart from the I/O that sends
them so their shape can be tested on its own. Each event is `(event name, data)`, as
`shared.runs.events.publish` takes it; the engine decides when to publish and what to store.
"""
from typing import Any

from workers.runs.stream_fold import Pending, ToolCall

Event = tuple[str, dict[str, Any]]


def text_content(text: str) -> list[dict[str, Any]]:
    """A message's content of plain text, before annotations are known."""
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def final_content(text: str, annotations: list[dict[str, Any]],
                  image_file_ids: list[str]) -> list[dict[str, Any]]:
    """The message's text with its annotations, then the images drawn before it."""
    content = text_content(text) if text else []
    if content:
        content[0]["text"]["annotations"] = annotations
    content.extend({"type": "image_file", "image_file": {"file_id": i}}
                   for i in image_file_ids)
    return content


def message_text_delta(message_id: str, text: str) -> Event:
    return ("thread.message.delta", {
        "id": message_id, "object": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text",
                               "text": {"value": text, "annotations": []}}]}})


def step_tool_calls_delta(step_id: str, calls: dict[int, dict[str, Any]]) -> Event:
    """Call fragments keyed by their index, sent in index order."""
    return ("thread.run.step.delta", {
        "id": step_id, "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls",
                                   "tool_calls": [calls[i] for i in sorted(calls)]}}})


def stream_deltas(message_id: str | None, step_id: str | None,
                  pending: Pending) -> list[Event]:
    """One flush of a model call's stream; empty when there is nothing to send (then
    nothing is published)."""
    batch: list[Event] = []
    if pending.text and message_id is not None:
        batch.append(message_text_delta(message_id, pending.text))
    if pending.calls and step_id is not None:
        batch.append(step_tool_calls_delta(step_id, pending.calls))
    return batch


def content_delta(message_id: str, content: list[dict[str, Any]],
                  streamed_text: bool) -> Event | None:
    """What the streamed deltas lacked: annotations of the text, and the images."""
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        if part["type"] == "text" and streamed_text:
            if part["text"]["annotations"]:
                parts.append({"index": index, "type": "text", "text": {"annotations": [
                    {"index": k, **a} for k, a in enumerate(part["text"]["annotations"])]}})
        else:
            parts.append({"index": index, **part})
    if not parts:
        return None
    return ("thread.message.delta", {"id": message_id, "object": "thread.message.delta",
                                     "delta": {"content": parts}})


def code_run_delta(step_id: str, position: int, shown: str, entry: dict[str, Any]) -> Event:
    """The step delta of code that ran: what the stream has not shown of its input yet
    (`shown` is what it did show), and its outputs."""
    ran = entry["code_interpreter"]
    rest = ran["input"][len(shown):] if ran["input"].startswith(shown) else ""
    return ("thread.run.step.delta", {
        "id": step_id, "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
            "index": position, "type": "code_interpreter", "code_interpreter": {
                "input": rest,
                "outputs": [{"index": k, **o} for k, o in enumerate(ran["outputs"])]}}]}}})


def required_action(calls: list[ToolCall]) -> dict[str, Any]:
    """The run's `required_action` for the function calls the client must answer."""
    return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": c.id, "type": "function",
         "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}}
