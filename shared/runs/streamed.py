"""What a run's event stream already showed of the messages and steps an interrupted
execution left open. Pure: fed the recorded events, it folds their deltas the way the
official SDK's event handler does (strings appended, lists merged by `index`), so what
Treadle stores for them is what a client that followed the stream holds.

Entries stay in the stream (late clients replay it), so a taking-over execution either
carries on with the open message, writing nothing that contradicts what was shown, or
withdraws it: it ends `incomplete` with the shown text, its step `failed`. A message or
step whose row committed but whose creation never reached the stream (its execution died
in between) is announced by the execution taking over, before anything else of it.
"""
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# A withdrawn step's `last_error`; its message ends incomplete with `WITHDRAWN_REASON`,
# which keeps it out of later prompts (the run wrote its answer again).
WORKER_LOST = {"code": "server_error",
               "message": "The worker executing this step was lost; the run went on without it."}
WITHDRAWN_REASON = "run_failed"


_CREATED = frozenset({"thread.message.created", "thread.run.step.created"})


@dataclass(frozen=True)
class Shown:
    """Per message id its content parts, per step id its tool calls, as the stream showed;
    `announced`: the ids of every message and step whose creation it showed."""
    contents: dict[str, list[dict[str, Any]]]
    tool_calls: dict[str, list[dict[str, Any]]]
    announced: frozenset[str]

    def content(self, message_id: str) -> list[dict[str, Any]]:
        return self.contents.get(message_id, [])

    def text(self, message_id: str) -> str:
        return text_of(self.content(message_id))

    def calls(self, step_id: str) -> list[dict[str, Any]]:
        return self.tool_calls.get(step_id, [])


@dataclass(frozen=True)
class Carried:
    """An interrupted execution's open message and its step, for the model call taking over
    to carry on with; `shown`: the text the stream showed of it."""
    message: dict[str, Any]
    step: dict[str, Any]
    shown: str


def carried(messages: list[dict[str, Any]], steps: list[dict[str, Any]]) -> Carried | None:
    """The open message among an interrupted execution's messages and steps (after
    `lifecycle.start` took them over, its content is what the stream showed)."""
    by_id = {m["id"]: m for m in messages}
    for step in reversed(steps):
        if step["type"] == "message_creation":
            message = by_id.get(step["step_details"]["message_creation"]["message_id"])
            if message is not None:
                return Carried(message, step, text_of(message["content"]))
    return None


def text_of(content: list[dict[str, Any]]) -> str:
    """The text of a message Treadle writes: its first part's."""
    return content[0]["text"]["value"] if content and content[0]["type"] == "text" else ""


def accumulate(acc: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Merge `delta` into `acc` as the SDK does (its `accumulate_delta`)."""
    for key, value in delta.items():
        held = acc.get(key)
        if held is None or key in ("index", "type"):
            acc[key] = _copy(value)
        elif isinstance(held, str) and isinstance(value, str):
            acc[key] = held + value
        elif isinstance(held, dict) and isinstance(value, dict):
            accumulate(held, value)
        elif isinstance(held, list) and isinstance(value, list):
            _merge_list(held, value)
        else:
            acc[key] = _copy(value)
    return acc


def _merge_list(held: list[Any], entries: list[Any]) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or "index" not in entry:
            held.append(entry)
        elif entry["index"] < len(held):
            accumulate(held[entry["index"]], entry)
        else:
            held.insert(entry["index"], _copy(entry))


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value


def _without_index(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delta parts as stored: the position is the list's, not a field."""
    return [{k: v for k, v in part.items() if k != "index"} for part in parts]


def fold(events: Iterable[tuple[str, str]], message_ids: Iterable[str],
         step_ids: Iterable[str]) -> Shown:
    """What the deltas among `events` (name, JSON data) showed of these messages and steps."""
    messages: dict[str, dict[str, Any]] = {i: {} for i in message_ids}
    steps: dict[str, dict[str, Any]] = {i: {} for i in step_ids}
    announced: set[str] = set()
    for name, data in events:
        if name in _CREATED:
            announced.add(json.loads(data)["id"])
            continue
        if name == "thread.message.delta":
            held = messages
        elif name == "thread.run.step.delta":
            held = steps
        else:
            continue
        payload = json.loads(data)
        if payload["id"] in held:
            accumulate(held[payload["id"]], payload["delta"])
    return Shown(
        {i: _without_index(d.get("content") or []) for i, d in messages.items()},
        {i: _without_index((d.get("step_details") or {}).get("tool_calls") or [])
         for i, d in steps.items()},
        frozenset(announced))


def agrees(text: str, shown: str) -> bool:
    """Whether a model call that wrote `text` so far may carry on with a message whose
    stream showed `shown`: one is the start of the other."""
    return text.startswith(shown) if len(text) >= len(shown) else shown.startswith(text)
