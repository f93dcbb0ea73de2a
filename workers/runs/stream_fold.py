"""Folding of one streamed Chat Completions call: text, tool calls, finish_reason, usage.

Pure and clock-free, so a unit test can feed it recorded streams. The run loop owns the I/O
(opening the message and the tool step, publishing deltas, the flush pace, cancel checks)
and drives a fresh `StreamFold` per model call:

    fold = StreamFold()
    for chunk in chunks:
        for began in fold.add(chunk):          # in arrival order, each at most once
            if began is Began.TEXT: open the message and its step
            if began is Began.TOOL_CALLS: open the tool_calls step
        if fold.has_pending and (first flush or FLUSH_SECONDS since the last):
            publish(payloads.stream_deltas(message_id, step_id, fold.take_pending()))
        if cancelled: stop (what is pending is dropped, as before)
    publish what is still pending
    usage = fold.final_usage(prompt_tokens)

The message and step are opened after `add` returns rather than while the chunk is read;
nothing is published in between, so the events are the same and in the same order.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from workers.runs import tools
from workers.tokens import count


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass
class ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""
    # What step deltas already showed of a code_interpreter call's input.
    shown: str = ""


class Began(Enum):
    """The first of a kind of output in the stream: the loop opens what holds it."""
    TEXT = "text"
    TOOL_CALLS = "tool_calls"


@dataclass
class Pending:
    """What arrived since the last flush: text for a message delta, and per call index the
    fragment of a step delta."""
    text: str = ""
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.text or self.calls)


class StreamFold:
    def __init__(self) -> None:
        self.text = ""
        self.calls: dict[int, ToolCall] = {}
        self.finish_reason: str | None = None
        # The stream's own count; None until a chunk carries one.
        self.usage: Usage | None = None
        self._pending = Pending()

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def add(self, chunk: dict[str, Any]) -> list[Began]:
        """Fold one chunk in; what began with it, in the order it arrived."""
        began: list[Began] = []
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(usage["prompt_tokens"], usage["completion_tokens"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                if not self.text:
                    began.append(Began.TEXT)
                self._pending.text += content
                self.text += content
            for call in delta.get("tool_calls") or ():
                if not self.calls:
                    began.append(Began.TOOL_CALLS)
                self._take_call_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return began

    def take_pending(self) -> Pending:
        """What to flush now; the fold starts gathering afresh."""
        pending, self._pending = self._pending, Pending()
        return pending

    def final_usage(self, prompt_tokens: int) -> Usage:
        """The stream's usage, or when it sent none (an endpoint that ignores
        `include_usage`) the prompt's count and a count of what the model wrote."""
        if self.usage is not None:
            return self.usage
        spent = count(self.text) + sum(count(c.arguments) for c in self.calls.values())
        return Usage(prompt_tokens, spent)

    def _take_call_delta(self, call: dict[str, Any]) -> None:
        """Fold one streamed fragment in; a step delta announces each call once it has an
        id and a name, then carries only argument fragments (none for built-in tools,
        whose input is shown when the call runs)."""
        pending = self._pending.calls
        index = call["index"]
        announced = index in self.calls and self.calls[index].name != ""
        known = self.calls.setdefault(index, ToolCall())
        if call.get("id") and not known.id:
            known.id = call["id"]
        fragment_arguments = ""
        function = call.get("function") or {}
        if function.get("name") and not known.name:
            known.name = function["name"]
        if function.get("arguments"):
            known.arguments += function["arguments"]
            fragment_arguments = function["arguments"]
        if not known.name:
            return
        if not announced:
            if tools.is_builtin(known.name):
                pending[index] = {"index": index, **tools.TOOLS[known.name].opening(known.id)}
            else:
                pending[index] = {"index": index, "id": known.id, "type": "function",
                                  "function": {"name": known.name,
                                               "arguments": known.arguments, "output": None}}
        elif fragment_arguments and not tools.is_builtin(known.name):
            fragment = pending.setdefault(index, {"index": index, "type": "function",
                                                  "function": {"arguments": ""}})
            fragment["function"]["arguments"] += fragment_arguments
        if known.name == tools.code_interpreter.NAME and fragment_arguments:
            # The code is shown as the model writes it, as OpenAI's streams do.
            code = tools.code_interpreter.partial_input(known.arguments)
            if len(code) > len(known.shown) and code.startswith(known.shown):
                fragment = pending.setdefault(index, {
                    "index": index, "type": "code_interpreter", "code_interpreter": {}})
                part = fragment["code_interpreter"]
                part["input"] = part.get("input", "") + code[len(known.shown):]
                known.shown = code
