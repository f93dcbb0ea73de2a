"""Execution of one run by a runs worker: the model loop, its steps, messages and events.

Postgres is written at step boundaries (message opened, completed; step completed; status
changes); deltas go only to the run's event stream, coalesced so a long answer costs a
few dozen events rather than one per token.
"""
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from shared.clock import now
from shared.objects import MESSAGE, STEP
from shared.platform import metrics, worker_shutdown
from shared.runs import events, lifecycle, repository, states
from shared.runs.leases import ThreadLease
from shared.runs.steps import dump_step
from shared.storage import redis_keys
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.redis import get_redis
from shared.storage.repository import MESSAGES, STEPS
from workers import model, prompt, tools
from workers.tokens import count
from workers.tools import annotations
from workers.tools import resources as tool_resources

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.02
CANCEL_CHECK_SECONDS = 0.05
# Model calls answered by Treadle's own tools before the run must stop and say so.
MAX_TOOL_ROUNDS = 25


class LeaseBusyError(Exception):
    """Another worker holds the thread's lease; the task is retried shortly."""


class RunAbandonedError(Exception):
    """This worker stops executing the run and writes nothing more of it: its lease lapsed
    (another worker may be executing it already), or the worker is stopping and hands the
    run back. The next execution repeats only the interrupted model call."""

    def __init__(self, reason: str, hand_back: bool):
        super().__init__(reason)
        self.hand_back = hand_back


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


@dataclass
class Outcome:
    text: str = ""
    message: dict[str, Any] | None = None
    text_step: dict[str, Any] | None = None
    tool_step: dict[str, Any] | None = None
    calls: dict[int, ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None
    cancelled: bool = False


def execute(run_id: str) -> None:
    """Run the task's state check, take the thread's lease, and drive the run."""
    with reading() as conn:
        run = repository.thread_and_status(conn, run_id)
    if run is None or run["status"] not in states.EXECUTABLE:
        return
    lease = ThreadLease(run["thread_id"])
    if not lease.acquire():
        raise LeaseBusyError(run["thread_id"])
    try:
        with lease:
            Execution(run_id, lease).drive()
    except RunAbandonedError as abandoned:
        log.warning("run %s abandoned: %s", run_id, abandoned)
        if abandoned.hand_back:
            # The lease is released above, so any other worker takes it up at once.
            lifecycle.hand_back(run_id)


class Execution:
    def __init__(self, run_id: str, lease: ThreadLease):
        self.run_id = run_id
        self.lease = lease
        self.usage = Usage()
        self.next_cancel_check = 0.0
        self.context: tools.Context | None = None
        # Images the run's code drew, shown in the next message the run writes.
        self.images: list[str] = []

    def drive(self) -> None:
        # The status is read again now that the lease is held: a cancel may have landed.
        run = lifecycle.start(self.run_id)
        if run is None:
            return
        if run["usage"]:
            self.usage = Usage(run["usage"]["prompt_tokens"], run["usage"]["completion_tokens"])
        self._loop(run)

    def _tool_context(self, run: dict[str, Any]) -> tools.Context:
        if self.context is None:
            with reading() as conn:
                self.context = tools.Context(run, tool_resources.load(conn, run),
                                             tools.searches_in(conn, self.run_id))
        return self.context

    def _loop(self, run: dict[str, Any]) -> None:
        for _ in range(MAX_TOOL_ROUNDS):
            limit = run["max_completion_tokens"]
            if limit is not None and self.usage.completion_tokens >= limit:
                self._end("incomplete", {"incomplete_details":
                                              {"reason": "max_completion_tokens"}})
                return
            try:
                # Only reads, and the thread is this worker's while it holds the lease.
                with reading() as conn:
                    built = prompt.build(conn, run)
            except prompt.PromptTooLongError:
                self._end("incomplete", {"incomplete_details":
                                              {"reason": "max_prompt_tokens"}})
                return
            began, result = time.monotonic(), "error"
            try:
                outcome = self._call_model(run, built)
                result = "cancelled" if outcome.cancelled else "ok"
            except RunAbandonedError:
                result = "abandoned"
                raise
            except Exception as error:  # every model failure ends the run, classified
                self._fail(model.error_code(error), model.error_message(error))
                return
            finally:
                metrics.observe_model_call(time.monotonic() - began, result)
            if outcome.cancelled:
                self._finish_cancel(outcome)
                return
            assert outcome.usage is not None
            self.usage.add(outcome.usage)
            if outcome.calls and outcome.finish_reason != "length":
                self._close_text(outcome)
                if self._call_tools(run, outcome):
                    continue
                return
            if outcome.finish_reason == "length" and limit is not None:
                self._end("incomplete", {"incomplete_details":
                                              {"reason": "max_completion_tokens"}}, outcome)
                return
            if self.images and outcome.message is None:
                self._image_message(run)
            self._end("completed", {}, outcome)
            return
        self._fail("server_error",
                   f"The run called tools more than {MAX_TOOL_ROUNDS} times in a row.")

    def _request(self, run: dict[str, Any], built: prompt.Prompt) -> dict[str, Any]:
        request: dict[str, Any] = {"model": run["model"], "messages": built.messages}
        builtin = any(tools.is_builtin(t["type"]) for t in run["tools"])
        offered = tools.chat_tools(
            run, self._tool_context(run).resources if builtin else tool_resources.Resources())
        if offered:
            request["tools"] = offered
            request["parallel_tool_calls"] = run["parallel_tool_calls"]
            request["tool_choice"] = tools.chat_tool_choice(run["tool_choice"])
        for name in ("temperature", "top_p"):
            if run[name] is not None:
                request[name] = run[name]
        if run["reasoning_effort"] is not None:
            request["reasoning_effort"] = run["reasoning_effort"]
        if isinstance(run["response_format"], dict):
            request["response_format"] = run["response_format"]
        if run["max_completion_tokens"] is not None:
            request["max_completion_tokens"] = max(
                1, run["max_completion_tokens"] - self.usage.completion_tokens)
        return request

    def _cancel_requested(self) -> bool:
        """Whether the run was cancelled; raises RunAbandonedError when this worker must
        let go of it."""
        moment = time.monotonic()
        if moment < self.next_cancel_check:
            return False
        self.next_cancel_check = moment + CANCEL_CHECK_SECONDS
        if self.lease.lost:
            raise RunAbandonedError("the thread's lease lapsed", hand_back=False)
        if worker_shutdown.handing_back():
            raise RunAbandonedError("the worker is stopping", hand_back=True)
        return bool(get_redis().exists(redis_keys.run_cancel(self.run_id)))

    def _call_model(self, run: dict[str, Any], built: prompt.Prompt) -> Outcome:
        outcome = Outcome()
        pending_text = ""
        pending_calls: dict[int, dict[str, Any]] = {}
        last_flush = 0.0
        with model.stream_chat(self._request(run, built)) as chunks:
            for chunk in chunks:
                usage = chunk.get("usage")
                if usage:
                    outcome.usage = Usage(usage["prompt_tokens"], usage["completion_tokens"])
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if content:
                        if outcome.message is None:
                            self._open_message(run, outcome)
                        pending_text += content
                        outcome.text += content
                    for call in delta.get("tool_calls") or ():
                        if outcome.tool_step is None:
                            self._open_tool_step(run, outcome)
                        self._take_call_delta(outcome, pending_calls, call)
                    if choice.get("finish_reason"):
                        outcome.finish_reason = choice["finish_reason"]
                moment = time.monotonic()
                if (pending_text or pending_calls) and (
                        last_flush == 0.0 or moment - last_flush >= FLUSH_SECONDS):
                    self._flush(outcome, pending_text, pending_calls)
                    pending_text, pending_calls, last_flush = "", {}, moment
                if self._cancel_requested():
                    outcome.cancelled = True
                    return outcome
        if pending_text or pending_calls:
            self._flush(outcome, pending_text, pending_calls)
        if outcome.usage is None:
            spent = count(outcome.text) + sum(count(c.arguments) for c in outcome.calls.values())
            outcome.usage = Usage(built.tokens, spent)
        return outcome

    def _take_call_delta(self, outcome: Outcome, pending: dict[int, dict[str, Any]],
                         call: dict[str, Any]) -> None:
        """Fold one streamed fragment in; a step delta announces each call once it has an
        id and a name, then carries only argument fragments (none for built-in tools,
        whose input is shown when the call runs)."""
        index = call["index"]
        announced = index in outcome.calls and outcome.calls[index].name != ""
        known = outcome.calls.setdefault(index, ToolCall())
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

    def _flush(self, outcome: Outcome, text: str, calls: dict[int, dict[str, Any]]) -> None:
        batch: list[tuple[str, Any]] = []
        if text and outcome.message is not None:
            batch.append(("thread.message.delta", {
                "id": outcome.message["id"], "object": "thread.message.delta",
                "delta": {"content": [{"index": 0, "type": "text",
                                       "text": {"value": text, "annotations": []}}]}}))
        if calls and outcome.tool_step is not None:
            batch.append(("thread.run.step.delta", {
                "id": outcome.tool_step["id"], "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls",
                                           "tool_calls": [calls[i] for i in sorted(calls)]}}}))
        if batch:
            events.publish(self.run_id, batch)

    def _new_step(self, conn: Any, run: dict[str, Any], kind: str,
                  details: dict[str, Any]) -> dict[str, Any]:
        return tables.insert(conn, STEPS, {
            "project_id": run["project_id"], "run_id": run["id"],
            "thread_id": run["thread_id"], "assistant_id": run["assistant_id"],
            "created_at": now(), "type": kind, "status": "in_progress",
            "step_details": details,
        })

    def _open_message(self, run: dict[str, Any], outcome: Outcome) -> None:
        with unit_of_work() as conn:
            message = tables.insert(conn, MESSAGES, {
                "project_id": run["project_id"], "thread_id": run["thread_id"],
                "created_at": now(), "status": "in_progress", "role": "assistant",
                "content": [], "assistant_id": run["assistant_id"], "run_id": run["id"],
                "attachments": [], "metadata": {},
            })
            step = self._new_step(conn, run, "message_creation", {
                "type": "message_creation", "message_creation": {"message_id": message["id"]}})
        outcome.message, outcome.text_step = message, step
        dumped_step, dumped_message = STEP.dump(step), MESSAGE.dump(message)
        events.publish(self.run_id, [
            ("thread.run.step.created", dumped_step),
            ("thread.run.step.in_progress", dumped_step),
            ("thread.message.created", dumped_message),
            ("thread.message.in_progress", dumped_message),
        ])

    def _open_tool_step(self, run: dict[str, Any], outcome: Outcome) -> None:
        with unit_of_work() as conn:
            step = self._new_step(conn, run, "tool_calls",
                                  {"type": "tool_calls", "tool_calls": []})
        outcome.tool_step = step
        dumped = STEP.dump(step)
        events.publish(self.run_id, [("thread.run.step.created", dumped),
                                     ("thread.run.step.in_progress", dumped)])

    def _text_content(self, text: str) -> list[dict[str, Any]]:
        return [{"type": "text", "text": {"value": text, "annotations": []}}]

    def _image_message(self, run: dict[str, Any]) -> None:
        """The run's code drew images but the model said nothing after: show them anyway."""
        outcome = Outcome(usage=Usage())
        self._open_message(run, outcome)
        self._close_text(outcome)

    def _final_content(self, conn: Any, text: str) -> list[dict[str, Any]]:
        """The message's text with its annotations, then the images drawn before it."""
        content = self._text_content(text) if text else []
        if content:
            content[0]["text"]["annotations"] = annotations.annotate(conn, self.run_id, text)
        content.extend({"type": "image_file", "image_file": {"file_id": i}}
                       for i in self.images)
        self.images = []
        return content

    def _content_delta(self, message_id: str, content: list[dict[str, Any]],
                       streamed_text: bool) -> tuple[str, Any] | None:
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

    def _close_text(self, outcome: Outcome) -> None:
        with unit_of_work() as conn:
            batch = self._closed_text(conn, outcome)
        if batch:
            events.publish(self.run_id, batch)

    def _closed_text(self, conn: Any, outcome: Outcome) -> list[tuple[str, Any]]:
        """Complete the model call's message and its step; the events that say so."""
        if outcome.message is None or outcome.text_step is None:
            return []
        truncated = outcome.finish_reason == "length"
        assert outcome.usage is not None
        content = self._final_content(conn, outcome.text)
        if truncated:
            message = repository.move(conn, "messages", outcome.message["id"], "incomplete", {
                "content": content, "incomplete_details": {"reason": "max_tokens"}})
        else:
            message = repository.move(conn, "messages", outcome.message["id"], "completed",
                                      {"content": content})
        step = repository.move(conn, "run_steps", outcome.text_step["id"], "completed",
                               {"usage": outcome.usage.to_dict()})
        batch: list[tuple[str, Any]] = []
        delta = self._content_delta(outcome.message["id"], content, bool(outcome.text))
        if delta is not None and message is not None:
            batch.append(delta)
        if message is not None:
            name = "thread.message.incomplete" if truncated else "thread.message.completed"
            batch.append((name, MESSAGE.dump(message)))
        if step is not None:
            batch.append(("thread.run.step.completed", STEP.dump(step)))
        return batch

    def _call_tools(self, run: dict[str, Any], outcome: Outcome) -> bool:
        """Run the calls Treadle answers itself; True when the loop goes on to the model,
        False when the run parked for function outputs or ended."""
        assert outcome.tool_step is not None and outcome.usage is not None
        calls = [outcome.calls[i] for i in sorted(outcome.calls)]
        context = self._tool_context(run)
        entries: list[dict[str, Any]] = []
        for position, call in enumerate(calls):
            if not tools.is_builtin(call.name):
                entries.append({"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": call.arguments, "output": None}})
                continue
            result = tools.execute(call.name, call.id, call.arguments, context)
            entries.append(result.entry)
            self.images.extend(result.images)
            if call.name == tools.code_interpreter.NAME:
                self._show_code_run(outcome.tool_step["id"], position, call, result.entry)
            self.next_cancel_check = 0.0
            if self._cancel_requested():
                self._finish_cancel()
                return False
        functions = [c for c in calls if not tools.is_builtin(c.name)]
        if functions:
            self._require_action(outcome, entries, functions)
            return False
        with unit_of_work() as conn:
            step = repository.move(conn, "run_steps", outcome.tool_step["id"], "completed", {
                "step_details": {"type": "tool_calls", "tool_calls": entries},
                "usage": outcome.usage.to_dict()})
        if step is None:
            self._finish_cancel()
            return False
        events.publish(self.run_id, [("thread.run.step.completed",
                                      dump_step(step, run["include"]))])
        return True

    def _show_code_run(self, step_id: str, position: int, call: ToolCall,
                       entry: dict[str, Any]) -> None:
        """The step delta of code that ran: what the stream has not shown of its input yet,
        and its outputs."""
        ran = entry["code_interpreter"]
        rest = ran["input"][len(call.shown):] if ran["input"].startswith(call.shown) else ""
        events.publish(self.run_id, [("thread.run.step.delta", {
            "id": step_id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
                "index": position, "type": "code_interpreter", "code_interpreter": {
                    "input": rest,
                    "outputs": [{"index": k, **o} for k, o in enumerate(ran["outputs"])]}}]}}})])

    def _require_action(self, outcome: Outcome, entries: list[dict[str, Any]],
                        calls: list[ToolCall]) -> None:
        assert outcome.tool_step is not None and outcome.usage is not None
        details = {"type": "tool_calls", "tool_calls": entries}
        action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}}
        parked = lifecycle.park(self.run_id, outcome.tool_step["id"], details,
                                outcome.usage.to_dict(), action, self.usage.to_dict())
        if parked is None:
            self._finish_cancel()

    def _end(self, status: str, changes: dict[str, Any],
             closing: Outcome | None = None) -> None:
        """End the run; `closing`: the last model call, whose message completes in the
        same transaction."""
        lifecycle.end(self.run_id, status, self.usage.to_dict(), changes,
                      (lambda conn: self._closed_text(conn, closing))
                      if closing is not None else None)

    def _fail(self, code: str, message: str) -> None:
        lifecycle.fail(self.run_id, self.usage.to_dict(), code, message)

    def _finish_cancel(self, outcome: Outcome | None = None) -> None:
        partial = None
        if outcome is not None and outcome.message is not None:
            partial = (outcome.message["id"], self._text_content(outcome.text))
        lifecycle.cancel(self.run_id, self.usage.to_dict(), partial)
