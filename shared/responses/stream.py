"""A response's events, translated from its run's recorded events.

A response is a run, so its worker records the run's events (`thread.run.*`,
`thread.run.step.*`, `thread.message.*`) in the run's Redis stream; any API replica turns
them into the Responses API's events with this translator, in the order the SDK's
`client.responses.stream()` helper accumulates them. Pure and deterministic: the same recorded
events always give the same events with the same `sequence_number`s, so a client resuming
with `starting_after` gets the rest of the very stream it saw, from any replica.

The run's terminal batch carries the response's stored output (`OUTPUT_EVENT`), which the
translator puts on the final event and never forwards.
"""
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from shared.items.wire import item_view
from shared.responses import outputs, wire
from shared.runs import streamed

OUTPUT_EVENT = "response.output"
_RUN = "thread.run."
# Each terminal status of a run and the event that ends the response's stream. A cancelled
# response has no event of its own in the API: it ends as one that did not complete.
FINAL_EVENTS = {"completed": "response.completed", "incomplete": "response.incomplete",
                "failed": "response.failed", "expired": "response.failed",
                "cancelled": "response.incomplete"}
_STEP_ENDS = {"completed", "failed", "cancelled", "expired"}
_MESSAGE_ENDS = {"completed", "incomplete"}

Event = dict[str, Any]


@dataclass
class _Item:
    index: int
    item: dict[str, Any]
    done: bool = False
    withdrawn: bool = False
    # A message's text part: added, its text, the annotations announced.
    text_added: bool = False
    text: str = ""
    annotations: int = 0
    # A code interpreter call: whether its code is done, and code its completed step holds
    # that no delta showed.
    code_done: bool = False
    unshown_code: str = ""


@dataclass
class Translator:
    """Feed it the run's events in their recorded order; each gives the Responses events it
    makes (none for most bookkeeping events).

    `run`: the run as last read, until its events say more. Only a stream that lost its
    first events (Redis restarted while the run went on) needs it; the events of every
    other stream carry the run before anything that shows it."""
    response: dict[str, Any]
    include: Collection[str]
    run: dict[str, Any] | None = None
    sequence: int = 0
    ended: bool = False
    stored_output: list[dict[str, Any]] | None = None
    items: list[_Item] = field(default_factory=list)
    by_key: dict[str, _Item] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)

    def feed(self, name: str, data: Any) -> list[Event]:
        """`data`: the event's JSON as recorded, or parsed."""
        if name != OUTPUT_EVENT and not name.startswith("thread."):
            return []
        if isinstance(data, str):
            data = json.loads(data)
        if name == OUTPUT_EVENT:
            self.stored_output = data["output"]
            return []
        if name.startswith("thread.run.step."):
            return self._step(name.removeprefix("thread.run.step."), data)
        if name.startswith("thread.message."):
            return self._message(name.removeprefix("thread.message."), data)
        if name.startswith(_RUN):
            return self._run(name.removeprefix(_RUN), data)
        return []

    # ------------------------------------------------------------ the response

    def _object(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.run is not None
        return wire.response_object(self.response, self.run, output)

    def _emit(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _run(self, status: str, run: dict[str, Any]) -> list[Event]:
        self.run = run
        if status == "created":
            return [self._emit("response.created", response=self._object([]))]
        if status == "queued":
            return [self._emit("response.queued", response=self._object([]))]
        if status == "in_progress":
            return [self._emit("response.in_progress", response=self._object([]))]
        if status not in FINAL_EVENTS or self.ended:
            return []
        self.ended = True
        events = [e for entry in self.items if not entry.done
                  for e in self._close(entry, "incomplete")]
        return [*events, self._emit(FINAL_EVENTS[status], response=self._object(self.output()))]

    def output(self) -> list[dict[str, Any]]:
        """The output the final event shows: the stored one, or the items the events made."""
        if self.stored_output is not None:
            return [item_view(item, self.include) for item in self.stored_output]
        return [item_view(entry.item, self.include)
                for entry in self.items if not entry.withdrawn]

    def _add(self, key: str, item: dict[str, Any]) -> tuple[_Item, list[Event]]:
        entry = _Item(len(self.items), item)
        self.items.append(entry)
        self.by_key[key] = entry
        return entry, [self._emit("response.output_item.added", output_index=entry.index,
                                  item=_copy(item))]

    def _ids(self, entry: _Item) -> dict[str, Any]:
        return {"item_id": entry.item["id"], "output_index": entry.index}

    def _close(self, entry: _Item, status: str) -> list[Event]:
        """An item that ends: the events that finish it by its type, then `done`."""
        events: list[Event] = []
        item = entry.item
        if item["type"] == "message":
            events.extend(self._text_done(entry))
        elif item["type"] == "function_call":
            events.append(self._emit("response.function_call_arguments.done",
                                     arguments=item["arguments"], **self._ids(entry)))
        elif item["type"] == "file_search_call":
            if status == "completed":
                events.append(self._emit("response.file_search_call.completed",
                                         **self._ids(entry)))
        else:
            events.extend(self._code_done(entry))
            if status == "completed":
                events.append(self._emit("response.code_interpreter_call.completed",
                                         **self._ids(entry)))
        item["status"] = status
        entry.done = True
        events.append(self._emit("response.output_item.done", output_index=entry.index,
                                 item=item_view(item, self.include)))
        return events

    # ------------------------------------------------------------ messages

    def _message(self, status: str, message: dict[str, Any]) -> list[Event]:
        entry = self.by_key.get(message["id"])
        if status == "created" and entry is None:
            return self._add(message["id"], {
                "id": message["id"], "type": "message", "role": "assistant",
                "status": "in_progress", "content": []})[1]
        if entry is None or entry.done:
            return []
        if status == "delta":
            return [e for part in message["delta"].get("content", [])
                    if part.get("type") == "text" for e in self._text_delta(entry, part["text"])]
        if status not in _MESSAGE_ENDS:
            return []
        events: list[Event] = []
        texts = [part["text"] for part in message["content"] if part["type"] == "text"]
        if texts:
            final = texts[0]
            events.extend(self._text_delta(entry, {"value": final["value"][len(entry.text):]}))
            events.extend(self._annotations(entry, final["annotations"][entry.annotations:]))
        details = message.get("incomplete_details") or {}
        entry.withdrawn = details.get("reason") == streamed.WITHDRAWN_REASON
        return [*events, *self._close(entry, outputs.message_status(message["status"]))]

    def _container(self) -> str:
        assert self.run is not None
        return outputs.container_id(self.run["thread_id"])

    def _text_delta(self, entry: _Item, text: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        value = text.get("value") or ""
        if value and not entry.text_added:
            entry.text_added = True
            part = {"type": "output_text", "text": "", "annotations": []}
            entry.item["content"].append(part)
            events.append(self._emit("response.content_part.added", content_index=0,
                                     part=_copy(part), **self._ids(entry)))
        if value:
            entry.text += value
            entry.item["content"][0]["text"] = entry.text
            events.append(self._emit("response.output_text.delta", content_index=0,
                                     delta=value, logprobs=[], **self._ids(entry)))
        return [*events, *self._annotations(entry, text.get("annotations") or [])]

    def _annotations(self, entry: _Item, notes: list[dict[str, Any]]) -> list[Event]:
        if not entry.text_added:
            return []
        events = []
        for note in notes:
            note = {k: v for k, v in note.items() if k != "index"}
            converted = outputs.annotation(note, self.filenames, self._container())
            entry.item["content"][0]["annotations"].append(converted)
            events.append(self._emit("response.output_text.annotation.added", content_index=0,
                                     annotation_index=entry.annotations,
                                     annotation=converted, **self._ids(entry)))
            entry.annotations += 1
        return events

    def _text_done(self, entry: _Item) -> list[Event]:
        if not entry.text_added:
            return []
        part = entry.item["content"][0]
        return [self._emit("response.output_text.done", content_index=0, text=entry.text,
                           logprobs=[], **self._ids(entry)),
                self._emit("response.content_part.done", content_index=0, part=_copy(part),
                           **self._ids(entry))]

    # ------------------------------------------------------------ tool calls

    def _step(self, status: str, step: dict[str, Any]) -> list[Event]:
        if status == "delta":
            details = step["delta"].get("step_details") or {}
            if details.get("type") != "tool_calls":
                return []
            return [e for call in details.get("tool_calls", [])
                    for e in self._call_delta(step["id"], call)]
        details = step["step_details"]
        if status not in _STEP_ENDS or details["type"] != "tool_calls":
            return []
        events: list[Event] = []
        for index, call in enumerate(details["tool_calls"]):
            if call["type"] == "file_search":
                for result in call["file_search"].get("results", []):
                    self.filenames[result["file_id"]] = result["file_name"]
            entry = self.by_key.get(f"{step['id']}:{index}")
            if entry is None:
                events.extend(self._call_delta(step["id"], {"index": index, **call}))
                entry = self.by_key[f"{step['id']}:{index}"]
            if entry.done:
                continue
            self._settle(entry, call)
            events.extend(self._close(entry, outputs.tool_status(call["type"],
                                                                 step["status"])))
        return events

    def _settle(self, entry: _Item, call: dict[str, Any]) -> None:
        """The item as its completed step has it: arguments, code, results, outputs."""
        item = entry.item
        if call["type"] == "function":
            item["arguments"] = call["function"]["arguments"]
        elif call["type"] == "file_search":
            item["results"] = [
                {"file_id": r["file_id"], "filename": r["file_name"], "score": r["score"],
                 "text": "".join(p["text"] for p in r.get("content", []))}
                for r in call["file_search"].get("results", [])]
        else:
            ran = call["code_interpreter"]
            item["outputs"] = [
                {"type": "logs", "logs": o["logs"]} if o["type"] == "logs"
                else {"type": "image", "url": outputs.file_url(o["image"]["file_id"])}
                for o in ran["outputs"]]
            code = ran["input"]
            if not entry.code_done and code.startswith(item["code"]):
                entry.unshown_code = code[len(item["code"]):]

    def _call_delta(self, step_id: str, call: dict[str, Any]) -> list[Event]:
        key = f"{step_id}:{call['index']}"
        entry = self.by_key.get(key)
        events: list[Event] = []
        if entry is None:
            if "id" not in call:
                return []
            entry, events = self._open_call(key, call)
        if entry.done:
            return events
        kind = call.get("type")
        if kind == "function":
            delta = (call.get("function") or {}).get("arguments") or ""
            if delta:
                entry.item["arguments"] += delta
                events.append(self._emit("response.function_call_arguments.delta",
                                         delta=delta, **self._ids(entry)))
        elif kind == "code_interpreter":
            ran = call.get("code_interpreter") or {}
            events.extend(self._code_delta(entry, ran.get("input") or ""))
            if "id" not in call and "outputs" in ran:
                events.extend(self._code_done(entry))
        return events

    def _open_call(self, key: str, call: dict[str, Any]) -> tuple[_Item, list[Event]]:
        call_id = call["id"]
        if call["type"] == "function":
            entry, events = self._add(key, {
                "id": outputs.function_call_id(call_id), "type": "function_call",
                "status": "in_progress", "call_id": call_id,
                "name": call["function"]["name"], "arguments": ""})
        elif call["type"] == "file_search":
            entry, events = self._add(key, {
                "id": outputs.file_search_call_id(call_id), "type": "file_search_call",
                "status": "in_progress", "queries": [], "results": None})
            events.append(self._emit("response.file_search_call.in_progress",
                                     **self._ids(entry)))
            events.append(self._emit("response.file_search_call.searching",
                                     **self._ids(entry)))
        else:
            entry, events = self._add(key, {
                "id": outputs.code_interpreter_call_id(call_id),
                "type": "code_interpreter_call", "status": "in_progress", "code": "",
                "container_id": self._container(), "outputs": None})
            events.append(self._emit("response.code_interpreter_call.in_progress",
                                     **self._ids(entry)))
        return entry, events

    def _code_delta(self, entry: _Item, delta: str) -> list[Event]:
        if not delta or entry.code_done:
            return []
        entry.item["code"] += delta
        return [self._emit("response.code_interpreter_call_code.delta", delta=delta,
                           **self._ids(entry))]

    def _code_done(self, entry: _Item) -> list[Event]:
        """The code is complete: said once, then it is being interpreted."""
        if entry.code_done:
            return []
        rest, entry.unshown_code = entry.unshown_code, ""
        events = self._code_delta(entry, rest)
        entry.code_done = True
        return [*events,
                self._emit("response.code_interpreter_call_code.done",
                           code=entry.item["code"], **self._ids(entry)),
                self._emit("response.code_interpreter_call.interpreting", **self._ids(entry))]


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(value))


def sse(event: Event) -> bytes:
    """One event as server-sent events put it, named by its type."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
