"""The run loop: one run driven by a runs worker through its model calls and tool calls.

Postgres is written at step boundaries (message opened, completed; step completed); every
status change is `shared/runs/lifecycle`'s. Deltas go only to the run's event stream,
coalesced so a long answer costs a few dozen events rather than one per token. What a
model stream folds into is `stream_fold`'s; the shape of each payload is `payloads`'.
"""
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from shared.clock import now
from shared.ids import new_id
from shared.messages import repository as messages
from shared.objects import MESSAGE, STEP
from shared.platform import metrics, worker_shutdown
from shared.responses import repository as responses
from shared.responses.ending import is_response
from shared.runs import events, lifecycle, repository, states, streamed
from shared.runs.leases import LeaseBusyError, ThreadLease, is_held, may_take_over
from shared.runs.steps import dump_step
from shared.storage import db, redis_keys
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.redis import get_redis
from shared.storage.repository import MESSAGES, STEPS
from workers import model
from workers.runs import payloads, prompt, tools
from workers.runs.stream_fold import Began, CallFilter, StreamFold, ToolCall, Usage
from workers.runs.tools import annotations
from workers.runs.tools import resources as tool_resources

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.02
CANCEL_CHECK_SECONDS = 0.05
# Model calls answered by Treadle's own tools before the run must stop and say so.
MAX_TOOL_ROUNDS = 25
STORAGE_UNAVAILABLE = (RedisError, *db.UNAVAILABLE)


class RunAbandonedError(Exception):
    """This worker stops executing the run and writes nothing more of it: its lease lapsed
    (another worker may be executing it already), or the worker is stopping and hands the
    run back. The next execution repeats only the interrupted model call."""

    def __init__(self, reason: str, hand_back: bool):
        super().__init__(reason)
        self.hand_back = hand_back


@dataclass
class ModelCall:
    """One model call of the run: its folded stream and the message and step it opened."""
    fold: StreamFold = field(default_factory=StreamFold)
    message: dict[str, Any] | None = None
    text_step: dict[str, Any] | None = None
    tool_step: dict[str, Any] | None = None
    usage: Usage | None = None
    cancelled: bool = False
    # The message an interrupted execution was writing, until this call's text begins and
    # carries on with it; then `shown`, what the stream showed of it, which the call's text
    # must write again before its deltas go out (`RunLoop._carry_on`).
    carried: streamed.Carried | None = None
    shown: str = ""

    @property
    def catching_up(self) -> bool:
        return len(self.fold.text) < len(self.shown)


def _executable(run_id: str) -> dict[str, Any] | None:
    """The run's status and thread, if it is still to be executed."""
    with reading() as conn:
        run = repository.thread_and_status(conn, run_id)
    return run if run is not None and run["status"] in states.EXECUTABLE else None


def drive_run(run_id: str, thread_id: str | None = None) -> None:
    """The thread's lease taken and the run driven. `thread_id`: given by a task that sent
    the run `queued` (`tasks.send_run`), so the lease is taken at once; else the run is read
    first, and one left in progress is taken over only as `may_take_over` allows, before its
    lease is touched."""
    run = None
    if thread_id is None:
        run = _executable(run_id)
        if run is None:
            return
        thread_id = str(run["thread_id"])
    lease = ThreadLease(thread_id)
    takeover = run is not None and run["status"] != "queued"
    if (takeover and not may_take_over()) or not lease.acquire():
        run = run or _executable(run_id)
        if run is None:
            return
        if run["status"] != "queued" and is_held(thread_id):
            # Another execution holds the run it started: this is a second task for it (the
            # timers send one more for a run that waits long in a backlog). That execution
            # ends the run, or its lease lapses and the timers send it again; retrying here
            # would only spin, five tasks a second, for as long as the run lasts.
            log.info("run %s is executed by another worker: nothing to do", run_id)
            return
        raise LeaseBusyError(thread_id)
    try:
        with lease:
            RunLoop(run_id, thread_id, lease).drive()
    except RunAbandonedError as abandoned:
        log.warning("run %s abandoned: %s", run_id, abandoned)
        if abandoned.hand_back:
            # The lease is released above, so any other worker takes it up at once.
            lifecycle.hand_back(run_id)


class RunLoop:
    def __init__(self, run_id: str, thread_id: str, lease: ThreadLease):
        self.run_id = run_id
        self.thread_id = thread_id
        self.lease = lease
        self.usage = Usage()
        self.next_cancel_check = 0.0
        self.context: tools.Context | None = None
        # Images the run's code drew, shown in the next message the run writes.
        self.images: list[str] = []
        self.carried: streamed.Carried | None = None
        # Events of a message or step just opened, sent with the deltas that follow in the
        # same chunk: the first delta costs one round trip to Redis, not two.
        self.unsent: list[tuple[str, Any]] = []
        # A response's run: function calls end it rather than park it.
        self.is_response = is_response(run_id)
        # Its response's row, read once: what the loop reads of it does not change.
        self.response: dict[str, Any] | None = None
        # Built-in tool calls a response's max_tool_calls still allows; None: no bound.
        self.builtin_calls_left: int | None = None
        # Whether the run may hold messages or steps of its own: not until the first
        # execution's first model call.
        self.wrote = True
        # The thread's history, read as the run started, for the first model call only.
        self.history: list[dict[str, Any]] | None = None

    def drive(self) -> None:
        # The status is read again now that the lease is held: a cancel may have landed. A
        # thread's history goes with it, for the first model call's prompt.
        history = None if self.is_response else messages.history(self.thread_id, self.run_id)
        run, self.history = lifecycle.start_reading(self.run_id, history)
        if run is None:
            return
        if run["usage"]:
            self.usage = Usage(run["usage"]["prompt_tokens"], run["usage"]["completion_tokens"])
        self.wrote = run["attempts"] > 1
        if run["attempts"] > 1 or self.is_response:
            with reading() as conn:
                if run["attempts"] > 1:
                    # Only a later execution may find what an interrupted one left open.
                    self.carried = streamed.carried(*repository.interrupted(conn, self.run_id))
                if self.is_response:
                    self.response = responses.find_any(conn, self.run_id)
                    self.builtin_calls_left = self._builtin_calls_left(conn)
        self._loop(run)

    def _user(self) -> str | None:
        """The end user a response's request names, sent on with each model call."""
        return None if self.response is None else self.response["request"].get("user")

    def _builtin_calls_left(self, conn: Any) -> int | None:
        bound = None if self.response is None else self.response["request"]["max_tool_calls"]
        if bound is None:
            return None
        made = sum(1 for c in repository.tool_calls(conn, self.run_id)
                   if tools.is_builtin(c["type"]))
        return max(0, bound - made)

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
                    built = prompt.build(conn, run, self.wrote, self.response, self.history)
                self.wrote, self.history = True, None
            except prompt.PromptTooLongError:
                self._end("incomplete", {"incomplete_details":
                                              {"reason": "max_prompt_tokens"}})
                return
            began, result = time.monotonic(), "error"
            try:
                model_call = self._call_model(run, built)
                result = "cancelled" if model_call.cancelled else "ok"
            except RunAbandonedError:
                result = "abandoned"
                raise
            except STORAGE_UNAVAILABLE as error:
                # Redis or Postgres away for longer than their clients wait: not the model's
                # failure. Recovery resumes the run once they are back.
                result = "abandoned"
                raise RunAbandonedError(f"storage unavailable: {error}",
                                        hand_back=False) from error
            except Exception as error:  # every model failure ends the run, classified
                self._fail(model.error_code(error), model.error_message(error))
                return
            finally:
                metrics.observe_model_call(time.monotonic() - began, result)
            if model_call.cancelled:
                self._finish_cancel(model_call)
                return
            assert model_call.usage is not None
            self.usage.add(model_call.usage)
            if model_call.fold.calls and model_call.fold.finish_reason != "length":
                self._close_text(model_call)
                if self._call_tools(run, model_call):
                    continue
                return
            if model_call.fold.finish_reason == "length" and limit is not None:
                self._end("incomplete", {"incomplete_details":
                                              {"reason": "max_completion_tokens"}}, model_call)
                return
            if self.images and model_call.message is None:
                self._image_message(run)
            self._end("completed", {}, model_call)
            return
        self._fail("server_error",
                   f"The run called tools more than {MAX_TOOL_ROUNDS} times in a row.")

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

    def _completion_budget(self, run: dict[str, Any]) -> int | None:
        """Completion tokens the run's next model call may spend: what max_completion_tokens
        leaves after the run's earlier calls."""
        limit = run["max_completion_tokens"]
        return None if limit is None else max(1, limit - self.usage.completion_tokens)

    def _call_model(self, run: dict[str, Any], built: prompt.Prompt) -> ModelCall:
        call = ModelCall(fold=StreamFold(self._completion_budget(run), CallFilter.of(run)),
                         carried=self.carried)
        self.carried = None
        fold = call.fold
        last_flush = 0.0
        # Its start, or the tools before, saw the run not cancelled: the first look at the
        # flag is due a check period in, so a quick answer costs no look at all (a cancel
        # that comes meanwhile still ends it, `lifecycle.end`).
        self.next_cancel_check = time.monotonic() + CANCEL_CHECK_SECONDS
        request = prompt.chat_request(run, built, lambda: self._tool_context(run).resources,
                                      self.builtin_calls_left, self._completion_budget(run),
                                      user=self._user())
        with model.stream_chat(request) as chunks:
            for chunk in chunks:
                for began in fold.add(chunk):
                    if began is Began.TEXT:
                        self._open_message(run, call)
                    else:
                        self._open_tool_step(run, call)
                self._carry_on(run, call)
                moment = time.monotonic()
                if fold.has_pending and not call.catching_up and (
                        last_flush == 0.0 or moment - last_flush >= FLUSH_SECONDS):
                    self._flush(call)
                    last_flush = moment
                self._send()
                if fold.overran:
                    break  # leaving the block closes the stream
                if self._cancel_requested():
                    call.cancelled = True
                    return call
        call.usage = fold.end(prompt.request_tokens(built, request))
        self._carry_on(run, call, ended=True)
        if fold.has_pending:
            self._flush(call)
        self._send()
        if fold.truncated:
            log.info("run %s: the model went past the %d completion tokens left to the run "
                     "(max_tokens ignored, or no count of its own); its answer ends there",
                     self.run_id, fold.budget)
        if fold.dropped:
            log.warning("run %s: acting on %d of the model's tool calls, leaving out %s "
                        "(tool_choice %s, parallel_tool_calls %s)", self.run_id,
                        len(fold.calls), [c.name for c in fold.dropped],
                        json.dumps(run["tool_choice"]), run["parallel_tool_calls"])
        return call

    def _carry_on(self, run: dict[str, Any], call: ModelCall, ended: bool = False) -> None:
        """The message the call carries on with is withdrawn once the call's text departs
        from what the stream showed of it, or ends short of it (or the call wrote none); the
        call's text then goes to a new message, none of it sent yet."""
        departs = bool(call.shown) and not streamed.agrees(call.fold.text, call.shown)
        if not (departs or (ended and (call.carried is not None or call.catching_up))):
            return
        if call.carried is not None:
            message, step = call.carried.message, call.carried.step
        else:
            assert call.message is not None and call.text_step is not None
            message, step = call.message, call.text_step
        self._send()
        lifecycle.withdraw(self.run_id, message["id"], step["id"])
        call.carried, call.message, call.text_step, call.shown = None, None, None, ""
        if call.fold.text:
            self._open_message(run, call)

    def _flush(self, call: ModelCall) -> None:
        message_id = call.message["id"] if call.message is not None else None
        step_id = call.tool_step["id"] if call.tool_step is not None else None
        pending = call.fold.take_pending()
        if call.shown:
            # Caught up: what the stream showed already is not sent again.
            before = len(call.fold.text) - len(pending.text)
            pending.text = pending.text[max(0, len(call.shown) - before):]
            call.shown = ""
        self._send(list(payloads.stream_deltas(message_id, step_id, pending)))

    def _send(self, batch: list[tuple[str, Any]] | None = None) -> None:
        """Publish the events not sent yet, then `batch`, in one round trip."""
        batch = [*self.unsent, *(batch or [])]
        self.unsent = []
        if batch:
            events.publish(self.run_id, batch)

    def _step_row(self, run: dict[str, Any], kind: str,
                  details: dict[str, Any]) -> dict[str, Any]:
        return {
            "project_id": run["project_id"], "run_id": run["id"],
            "thread_id": run["thread_id"], "assistant_id": run["assistant_id"],
            "created_at": now(), "type": kind, "status": "in_progress",
            "step_details": details,
        }

    def _open_message(self, run: dict[str, Any], model_call: ModelCall) -> None:
        if model_call.carried is not None:
            # The stream announced this message already.
            carried, model_call.carried = model_call.carried, None
            model_call.message, model_call.text_step = carried.message, carried.step
            model_call.shown = carried.shown
            return
        message_id = new_id(MESSAGES.kind)
        message, step = db.in_one_trip([
            tables.insertion(MESSAGES, {
                "id": message_id, "project_id": run["project_id"],
                "thread_id": run["thread_id"], "created_at": now(), "status": "in_progress",
                "role": "assistant", "content": [], "assistant_id": run["assistant_id"],
                "run_id": run["id"], "attachments": [], "metadata": {},
            }),
            tables.insertion(STEPS, self._step_row(run, "message_creation", {
                "type": "message_creation", "message_creation": {"message_id": message_id}})),
        ])
        assert message is not None and step is not None
        model_call.message, model_call.text_step = message, step
        dumped_step, dumped_message = STEP.dump(step), MESSAGE.dump(message)
        self.unsent.extend([
            ("thread.run.step.created", dumped_step),
            ("thread.run.step.in_progress", dumped_step),
            ("thread.message.created", dumped_message),
            ("thread.message.in_progress", dumped_message),
        ])

    def _open_tool_step(self, run: dict[str, Any], model_call: ModelCall) -> None:
        with unit_of_work() as conn:
            step = tables.insert(conn, STEPS, self._step_row(
                run, "tool_calls", {"type": "tool_calls", "tool_calls": []}))
        model_call.tool_step = step
        dumped = STEP.dump(step)
        self.unsent.extend([("thread.run.step.created", dumped),
                            ("thread.run.step.in_progress", dumped)])

    def _image_message(self, run: dict[str, Any]) -> None:
        """The run's code drew images but the model said nothing after: show them anyway."""
        model_call = ModelCall(usage=Usage())
        self._open_message(run, model_call)
        self._close_text(model_call)

    def _final_content(self, text: str) -> list[dict[str, Any]]:
        """The message's text with its annotations, then the images drawn before it."""
        notes: list[dict[str, Any]] = []
        if annotations.needed(text):
            # The run's finished tool calls: the thread is this worker's while it holds the
            # lease, so a read outside the closing's transaction sees what it would.
            with reading() as conn:
                notes = annotations.annotate(conn, self.run_id, text)
        content = payloads.final_content(text, notes, self.images)
        self.images = []
        return content

    def _close_text(self, model_call: ModelCall) -> None:
        closings = self._closings(model_call)
        rows = db.in_one_trip([closing.statement() for closing in closings])
        self._send(lifecycle.closed(closings, rows))

    def _closings(self, model_call: ModelCall) -> list[lifecycle.Closing]:
        """The model call's message completing, and its step."""
        if model_call.message is None or model_call.text_step is None:
            return []
        truncated = model_call.fold.finish_reason == "length"
        assert model_call.usage is not None
        message_id = model_call.message["id"]
        content = self._final_content(model_call.fold.text)
        delta = payloads.content_delta(message_id, content, bool(model_call.fold.text))

        def message_events(message: dict[str, Any]) -> list[tuple[str, Any]]:
            name = "thread.message.incomplete" if truncated else "thread.message.completed"
            return [*([delta] if delta is not None else []), (name, MESSAGE.dump(message))]

        if truncated:
            message = lifecycle.Closing("messages", message_id, "incomplete", {
                "content": content, "incomplete_details": {"reason": "max_tokens"}},
                message_events)
        else:
            message = lifecycle.Closing("messages", message_id, "completed",
                                        {"content": content}, message_events)
        return [message, lifecycle.Closing(
            "run_steps", model_call.text_step["id"], "completed",
            {"usage": model_call.usage.to_dict()},
            lambda step: [("thread.run.step.completed", STEP.dump(step))])]

    def _call_tools(self, run: dict[str, Any], model_call: ModelCall) -> bool:
        """Run the calls Treadle answers itself; True when the loop goes on to the model,
        False when the run parked for function outputs or ended."""
        assert model_call.tool_step is not None and model_call.usage is not None
        calls = [model_call.fold.calls[i] for i in sorted(model_call.fold.calls)]
        context = self._tool_context(run)
        entries: list[dict[str, Any]] = []
        for position, call in enumerate(calls):
            if not tools.is_builtin(call.name):
                entries.append({"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": call.arguments, "output": None}})
                continue
            if self.builtin_calls_left is not None and self.builtin_calls_left <= 0:
                entries.append(tools.not_called(call.name, call.id, call.arguments,
                                                "Not run: the response's max_tool_calls is "
                                                "reached.").entry)
                continue
            if self.builtin_calls_left is not None:
                self.builtin_calls_left -= 1
            result = tools.call(call.name, call.id, call.arguments, context)
            entries.append(result.entry)
            self.images.extend(result.images)
            if call.name == tools.code_interpreter.NAME:
                events.publish(self.run_id, [payloads.code_run_delta(
                    model_call.tool_step["id"], position, call.shown, result.entry)])
            self.next_cancel_check = 0.0
            if self._cancel_requested():
                self._finish_cancel()
                return False
        functions = [c for c in calls if not tools.is_builtin(c.name)]
        if functions and self.is_response:
            self._end_with_calls(run, model_call, entries)
            return False
        if functions:
            self._require_action(model_call, entries, functions)
            return False
        with unit_of_work() as conn:
            step = repository.move(conn, "run_steps", model_call.tool_step["id"], "completed", {
                "step_details": {"type": "tool_calls", "tool_calls": entries},
                "usage": model_call.usage.to_dict()})
        if step is None:
            self._finish_cancel()
            return False
        events.publish(self.run_id, [("thread.run.step.completed",
                                      dump_step(step, run["include"]))])
        return True

    def _end_with_calls(self, run: dict[str, Any], model_call: ModelCall,
                        entries: list[dict[str, Any]]) -> None:
        """A response does not wait for function outputs: its tool step completes holding
        the calls (their outputs null) and the response ends `completed` in the same
        transaction; the client answers them in a next response."""
        assert model_call.tool_step is not None and model_call.usage is not None
        lifecycle.end(self.run_id, "completed", self.usage.to_dict(), {}, [lifecycle.Closing(
            "run_steps", model_call.tool_step["id"], "completed", {
                "step_details": {"type": "tool_calls", "tool_calls": entries},
                "usage": model_call.usage.to_dict()},
            lambda step: [("thread.run.step.completed", dump_step(step, run["include"]))])],
            self.lease)

    def _require_action(self, model_call: ModelCall, entries: list[dict[str, Any]],
                        calls: list[ToolCall]) -> None:
        assert model_call.tool_step is not None and model_call.usage is not None
        details = {"type": "tool_calls", "tool_calls": entries}
        action = payloads.required_action(calls)
        parked = lifecycle.park(self.run_id, model_call.tool_step["id"], details,
                                model_call.usage.to_dict(), action, self.usage.to_dict(),
                                self.lease)
        if parked is None:
            self._finish_cancel()

    def _end(self, status: str, changes: dict[str, Any],
             closing: ModelCall | None = None) -> None:
        """End the run; `closing`: the last model call, whose message completes in the
        same transaction."""
        lifecycle.end(self.run_id, status, self.usage.to_dict(), changes,
                      self._closings(closing) if closing is not None else (), self.lease)

    def _fail(self, code: str, message: str) -> None:
        lifecycle.fail(self.run_id, self.usage.to_dict(), code, message, self.lease)

    def _finish_cancel(self, model_call: ModelCall | None = None) -> None:
        partial = None
        # Still catching up, the message keeps the longer text the stream showed.
        if (model_call is not None and model_call.message is not None
                and not model_call.catching_up):
            partial = (model_call.message["id"], payloads.text_content(model_call.fold.text))
        lifecycle.cancel(self.run_id, self.usage.to_dict(), partial, self.lease)
