"""Folding of one streamed Chat Completions call: text, tool calls, finish_reason, usage.

Pure and clock-free, so a unit test can feed it recorded streams. The run loop owns the I/O
(opening the message and the tool step, publishing deltas, the flush pace, cancel checks)
and drives a fresh `StreamFold` per model call, made with what the run allows it:

    fold = StreamFold(budget=completion tokens the run has left, keep=CallFilter.of(run))
    for chunk in chunks:
        for began in fold.add(chunk):          # in arrival order, each at most once
            if began is Began.TEXT: open the message and its step
            if began is Began.TOOL_CALLS: open the tool_calls step
        if fold.has_pending and (first flush or FLUSH_SECONDS since the last):
            publish(payloads.stream_deltas(message_id, step_id, fold.take_pending()))
        if fold.overran: stop (closing the stream)
        if cancelled: stop (what is pending is dropped, as before)
    usage = fold.end(prompt_tokens)            # settles what was held back at the budget
    publish what is still pending

The message and step are opened after `add` returns rather than while the chunk is read;
nothing is published in between, so the events are the same and in the same order.

The completion budget. The model is asked for at most `budget` tokens, but many
OpenAI-compatible servers ignore `max_tokens`, so the fold counts what the model writes
(text and call arguments, `workers.tokens`, incrementally) and holds back the text past the
budget. Treadle's tokenizer is not the model's, so that count alone does not cut an answer:
a model that keeps its limit in its own tokens would be cut short wherever o200k counts
more. The model's own count decides when it comes: when the stream ends with the model's
usage within the budget, the held text is shown; otherwise (usage over the budget, or none)
the answer ends where Treadle's count reached the budget, as if the model had stopped there
(finish_reason "length", the call's completion tokens = the budget). `overran` tells the
loop to close the stream as soon as the model has certainly passed the budget: its own
running count says so, or it sent more pieces of output than the budget has tokens (each
piece holds at least one of its tokens; servers stream about one token a piece).

Tool calls the run does not allow (`CallFilter`) are dropped as their names arrive: never
announced in a step delta, never in `calls` (so neither in the step nor in
`required_action`), listed in `dropped` for the loop to log. Kept calls are numbered by
their position in the step, which is what step deltas' `index` means.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from shared.ids import new_id
from workers.runs import tools
from workers.tokens import TokenCounter, count


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


@dataclass(frozen=True)
class CallFilter:
    """Which of the model's tool calls the run acts on, decided as each call's name arrives:
    with `tool_choice: "none"` none (the run answers with its text only), with a
    `tool_choice` naming one tool only calls of it, with `parallel_tool_calls: false` only
    the first. The model is asked for the same, but not every model obeys."""
    name: str | None = None
    single: bool = False
    none: bool = False

    @classmethod
    def of(cls, run: dict[str, Any]) -> "CallFilter":
        choice = tools.chat_tool_choice(run["tool_choice"])
        name = None
        if isinstance(choice, dict) and choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
        return cls(name, run["parallel_tool_calls"] is False, choice == "none")

    def keeps(self, name: str, kept: int) -> bool:
        """Whether a call of `name` is acted on, `kept` calls being kept before it."""
        return (not self.none and (self.name is None or name == self.name)
                and not (self.single and kept))


class Began(Enum):
    """The first of a kind of output in the stream: the loop opens what holds it."""
    TEXT = "text"
    TOOL_CALLS = "tool_calls"


@dataclass
class Pending:
    """What arrived since the last flush: text for a message delta, and per call position
    the fragment of a step delta."""
    text: str = ""
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.text or self.calls)


class StreamFold:
    def __init__(self, budget: int | None = None, keep: CallFilter | None = None) -> None:
        # The text within the budget (all of it without one) and the calls the run acts on,
        # by their position in the step.
        self.text = ""
        self.calls: dict[int, ToolCall] = {}
        # Calls the run's options leave out, in the order their names arrived (then any
        # that never got a name).
        self.dropped: list[ToolCall] = []
        self.finish_reason: str | None = None
        # The stream's own count; None until a chunk carries one.
        self.usage: Usage | None = None
        self.budget = budget
        # Treadle ended the answer at the budget (`end`).
        self.truncated = False
        self._keep = keep or CallFilter()
        self._pending = Pending()
        self._streamed: dict[int, ToolCall] = {}  # every call, by the model's index
        self._positions: dict[int, int] = {}  # a kept call's position, by the model's index
        self._text_began = False
        # Counted only with a budget: the text, each call's arguments, the pieces of output.
        self._text_tokens = TokenCounter()
        self._argument_tokens: dict[int, TokenCounter] = {}
        self._pieces = 0
        # Treadle's count passed the budget; the text from there on is held back.
        self._over = False
        self._held = ""

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    @property
    def overran(self) -> bool:
        """The model has certainly spent more than the budget: the loop closes the stream."""
        if self.budget is None:
            return False
        if self.usage is not None and self.usage.completion_tokens > self.budget:
            return True
        return self._pieces > self.budget

    def add(self, chunk: dict[str, Any]) -> list[Began]:
        """Fold one chunk in; what began with it, in the order it arrived."""
        began: list[Began] = []
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(usage["prompt_tokens"], usage["completion_tokens"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            wrote = False
            content = delta.get("content")
            if content:
                if not self._text_began:
                    self._text_began = True
                    began.append(Began.TEXT)
                self._take_text(content)
                wrote = True
            for call in delta.get("tool_calls") or ():
                if self._take_call_delta(call) and len(self.calls) == 1:
                    began.append(Began.TOOL_CALLS)
                wrote = wrote or bool((call.get("function") or {}).get("arguments"))
            if wrote:
                self._pieces += 1
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return began

    def take_pending(self) -> Pending:
        """What to flush now; the fold starts gathering afresh."""
        pending, self._pending = self._pending, Pending()
        return pending

    def end(self, prompt_tokens: int) -> Usage:
        """Settle the call once its stream ended or was closed, and its usage: the stream's,
        or when it sent none (an endpoint that ignores `include_usage`) the prompt's count
        and a count of what the model wrote. Past the budget, see the module's docstring.
        A call whose name never came is dropped here."""
        self.dropped.extend(c for c in self._streamed.values() if not c.name)
        for call in self.calls.values():
            if not call.id:
                # A model that gave a call no id: it gets one, since outputs (and a
                # response's items) are matched to calls by it.
                call.id = new_id("call")
        if self.budget is not None and (self._over or self.overran):
            if self.usage is not None and not self.overran:
                # The model's own count kept within the budget: all of it stands.
                self.text += self._held
                self._pending.text += self._held
                self._held = ""
                return self.usage
            self._held = ""
            self.finish_reason = "length"
            self.truncated = True
            prompt = self.usage.prompt_tokens if self.usage is not None else prompt_tokens
            return Usage(prompt, self.budget)
        if self.usage is not None:
            return self.usage
        spent = count(self.text) + sum(count(c.arguments) for c in self._streamed.values())
        return Usage(prompt_tokens, spent)

    def _arguments_spent(self) -> int:
        return sum(c.total for c in self._argument_tokens.values())

    def _take_text(self, content: str) -> None:
        if self._over:
            self._held += content
            return
        if self.budget is not None:
            taken = self._text_tokens.add(content, self.budget - self._arguments_spent())
            if taken < len(content):
                self._over = True
                self._held = content[taken:]
                content = content[:taken]
        self.text += content
        self._pending.text += content

    def _count_arguments(self, index: int, fragment: str) -> None:
        if self.budget is None or self._over:
            return
        self._argument_tokens.setdefault(index, TokenCounter()).add(fragment)
        if self._text_tokens.total + self._arguments_spent() > self.budget:
            self._over = True

    def _take_call_delta(self, call: dict[str, Any]) -> bool:
        """Fold one streamed fragment in; True when it announced a call the run keeps. A
        step delta announces each kept call once it has a name (with its id when known),
        then carries only argument fragments (none for built-in tools, whose input is shown
        when the call runs)."""
        pending = self._pending.calls
        index = call["index"]
        known = self._streamed.setdefault(index, ToolCall())
        named = known.name != ""
        if call.get("id") and not known.id:
            known.id = call["id"]
        function = call.get("function") or {}
        if function.get("name") and not known.name:
            known.name = function["name"]
        fragment_arguments = function.get("arguments") or ""
        if fragment_arguments:
            known.arguments += fragment_arguments
            self._count_arguments(index, fragment_arguments)
        if not known.name:
            return False
        announced = False
        if not named:
            if not self._keep.keeps(known.name, len(self.calls)):
                self.dropped.append(known)
                return False
            position = self._positions[index] = len(self.calls)
            self.calls[position] = known
            announced = True
            if tools.is_builtin(known.name):
                pending[position] = {"index": position,
                                     **tools.TOOLS[known.name].opening(known.id)}
            else:
                pending[position] = {"index": position, "id": known.id, "type": "function",
                                     "function": {"name": known.name,
                                                  "arguments": known.arguments,
                                                  "output": None}}
        elif index not in self._positions:
            return False
        else:
            position = self._positions[index]
            if fragment_arguments and not tools.is_builtin(known.name):
                fragment = pending.setdefault(position, {"index": position, "type": "function",
                                                         "function": {"arguments": ""}})
                fragment["function"]["arguments"] += fragment_arguments
        if known.name == tools.code_interpreter.NAME and fragment_arguments:
            # The code is shown as the model writes it, as OpenAI's streams do.
            code = tools.code_interpreter.partial_input(known.arguments)
            if len(code) > len(known.shown) and code.startswith(known.shown):
                fragment = pending.setdefault(position, {
                    "index": position, "type": "code_interpreter", "code_interpreter": {}})
                part = fragment["code_interpreter"]
                part["input"] = part.get("input", "") + code[len(known.shown):]
                known.shown = code
        return announced
