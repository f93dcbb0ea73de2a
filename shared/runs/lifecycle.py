"""Every status change of a run, one function each: the API's service, the runs engine and
the timers call only these.

Each function does the compare-and-set (`repository.move`), settles what the run leaves
open, and after the commit updates what Redis keeps beside the run (the cancel flag, the
deadline index) in the same round trip as the events it publishes, then sends the run's
task when the run goes back to the queue. So a worker never looks for a row that is not
there yet, and no client sees an event for a change that did not commit.
"""
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from shared.clock import now
from shared.config import get_settings
from shared.errors import InvalidRequestError, NotFoundError
from shared.objects import MESSAGE, RUN, STEP, THREAD
from shared.platform import tasks
from shared.responses import ending
from shared.responses import repository as responses
from shared.runs import events, repository, streamed
from shared.runs.leases import LeaseBusyError, ThreadLease, is_held, may_take_over
from shared.runs.steps import dump_step
from shared.storage import db, redis_keys
from shared.storage import repository as tables
from shared.storage.db import Conn, Statement, unit_of_work
from shared.storage.redis import get_redis

Batch = list[tuple[str, Any]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Closing:
    """A move of one of a run's messages or steps (its last message completing), made in
    the transaction of the run's end and only if the run's move is; `events` are what the
    moved row makes to say so."""
    table: str
    object_id: str
    target: str
    changes: dict[str, Any]
    events: Callable[[dict[str, Any]], Batch]

    def statement(self, with_run: str | None = None) -> Statement:
        return repository.movement(self.table, self.object_id, self.target, self.changes,
                                   with_run=with_run)


def closed(closings: list[Closing], rows: list[dict[str, Any] | None]) -> Batch:
    """The events of the closings whose rows moved."""
    return [event for closing, row in zip(closings, rows, strict=True) if row is not None
            for event in closing.events(row)]


def _locked(conn: Conn, project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    tables.get(conn, tables.THREADS, {"project_id": project_id}, thread_id, "thread_id")
    return tables.get(conn, tables.RUNS, {"project_id": project_id, "thread_id": thread_id},
                      run_id, "run_id", for_update=True)


def _settle(conn: Conn, run: dict[str, Any]) -> Batch:
    """In the transaction of a run's terminal move: what the run left open ends with it,
    and a response's end is recorded (`shared/responses/ending`). The events to publish
    ahead of the terminal one."""
    repository.settle_children(conn, run["id"], run["status"])
    return ending.record_end(conn, run) if ending.is_response(run["id"]) else []


def _publish_ended(run_id: str, batch: Batch, lease: ThreadLease | None = None) -> None:
    """After a run's end commits: its cancel flag and deadline go with the events, and the
    lease of the worker that ended it, in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    events.append(pipe, run_id, batch)
    pipe.delete(redis_keys.run_cancel(run_id))
    pipe.zrem(redis_keys.RUN_DEADLINES, run_id)
    if lease is not None:
        lease.release_on(pipe)
    pipe.execute()


def _ended_events(run: dict[str, Any]) -> Batch:
    return [(f"thread.run.{run['status']}", RUN.dump(run)), (events.DONE, "[DONE]")]


def queued(run: dict[str, Any], thread: dict[str, Any] | None = None) -> str:
    """A run (and the thread made with it) just committed `queued`: announce it and send its
    task. Returns the id of its first event, where a stream of the run starts. When Redis or
    the broker fails now, the run stays `queued` and the timers send it (`recover_stalled`
    requeues queued runs no worker holds): the runs table is the outbox, so its create
    answers with the run rather than an error a client would retry into a second run."""
    first = [("thread.created", THREAD.dump(thread))] if thread is not None else []
    dumped = RUN.dump(run)
    try:
        stream_from = events.publish(run["id"], [*first, ("thread.run.created", dumped),
                                                 ("thread.run.queued", dumped)])
        tasks.send_run(run["id"], run["thread_id"])
    except (RedisError, KombuError, OSError) as error:
        log.warning("run %s committed but not sent (%s): the timers will send it",
                    run["id"], error)
        # A new run's stream holds only its own events: read from its top.
        return "0-0"
    return stream_from


def start(run_id: str) -> dict[str, Any] | None:
    """queued (or interrupted in_progress) -> in_progress, for the worker that now holds the
    thread's lease. None when there is nothing to execute: the run is gone or ended, or was
    cancelled while waiting (then it ends `cancelled` here). An interrupted execution's open
    message and steps are taken over first (`_take_over`), once Redis has been up for a
    lease period (else LeaseBusyError: the run's own worker may not have taken back a lease
    Redis forgot). A queued run moves in one statement and one round trip."""
    return start_reading(run_id, None)[0]


def start_reading(run_id: str, read: Statement | None
                  ) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None]:
    """`start`, with `read` (what the caller reads next) sent in the round trip that moves a
    queued run, the commonest start: the run, and the read's rows; None for them when the
    run was not queued (a takeover changes what it reads: the caller reads it after)."""
    with db.batched() as batch:
        moving = batch.execute(*repository.queued_start(run_id))
        reading_next = batch.execute(*read) if read is not None else None
    moved = moving.fetchone()
    if moved is not None:
        events.publish(run_id, [("thread.run.in_progress", RUN.dump(moved))])
        return moved, None if reading_next is None else reading_next.fetchall()
    return _start_unqueued(run_id), None


def _start_unqueued(run_id: str) -> dict[str, Any] | None:
    """`start` of a run found not queued: taken over, or cancelled, or nothing to do."""
    withdrawn: Batch = []
    with unit_of_work() as conn:
        run = repository.find(conn, run_id)
        status = None if run is None else run["status"]
        moved = None
        if run is not None and status in ("in_progress", "cancelling"):
            if not may_take_over():
                raise LeaseBusyError(run["thread_id"])
            withdrawn = _take_over(conn, run)
        if run is not None and status != "cancelling":
            # Taking over, the status stays what the stream last said: no event, no stamp.
            moved = repository.move(conn, "runs", run_id, "in_progress",
                                    {"attempts": run["attempts"] + 1},
                                    stamp=status != "in_progress")
    if withdrawn:
        events.publish(run_id, withdrawn)
    if run is not None and status == "cancelling":
        cancel(run_id, run["usage"] or _no_usage())
        return None
    if moved is not None and status != "in_progress":
        events.publish(run_id, [("thread.run.in_progress", RUN.dump(moved))])
    return moved


def _take_over(conn: Conn, run: dict[str, Any]) -> Batch:
    """A new execution takes over from one that was interrupted (its worker died or handed
    the run back). What that one left open was shown on the run's stream, which keeps it:
    its message is given the text the stream showed (the next model call carries on with it,
    `withdraw` ends it otherwise), and its tool_calls step, whose calls the model makes anew
    with new ids, is withdrawn holding what the stream showed. What it opened but died
    before announcing is announced first, as it would have been, so no client is sent a
    delta or an end of a message or step it was never shown. The events that say so."""
    messages, steps = repository.interrupted(conn, run["id"])
    tool_steps = [s for s in steps if s["type"] == "tool_calls"]
    if not messages and not tool_steps:
        return []
    shown = streamed.fold(events.recorded(run["id"]), [m["id"] for m in messages],
                          [s["id"] for s in tool_steps])
    taken = {message["id"]: tables.update(
        conn, tables.MESSAGES, {"run_id": run["id"]}, message["id"], "message_id",
        {"content": shown.content(message["id"])}) for message in messages}
    batch: Batch = []
    for step in steps:
        if step["id"] in shown.announced:
            continue
        dumped = dump_step(step, run["include"])
        batch += [("thread.run.step.created", dumped), ("thread.run.step.in_progress", dumped)]
        message = (taken.get(step["step_details"]["message_creation"]["message_id"])
                   if step["type"] == "message_creation" else None)
        if message is not None:
            batch += [("thread.message.created", MESSAGE.dump(message)),
                      ("thread.message.in_progress", MESSAGE.dump(message))]
    for step in tool_steps:
        failed = repository.move(conn, "run_steps", step["id"], "failed", {
            "last_error": streamed.WORKER_LOST,
            "step_details": {"type": "tool_calls", "tool_calls": shown.calls(step["id"])}})
        if failed is not None:
            batch.append(("thread.run.step.failed", dump_step(failed, run["include"])))
    return batch


def withdraw(run_id: str, message_id: str, step_id: str) -> None:
    """An interrupted execution's message that the model call taking over did not write
    again ends `incomplete` with what the stream showed of it, its step `failed`; the run
    goes on without them, and later prompts leave the message out."""
    with unit_of_work() as conn:
        message = repository.move(conn, "messages", message_id, "incomplete", {
            "incomplete_details": {"reason": streamed.WITHDRAWN_REASON}})
        step = repository.move(conn, "run_steps", step_id, "failed",
                               {"last_error": streamed.WORKER_LOST})
    batch: Batch = []
    if message is not None:
        batch.append(("thread.message.incomplete", MESSAGE.dump(message)))
    if step is not None:
        batch.append(("thread.run.step.failed", STEP.dump(step)))
    if batch:
        events.publish(run_id, batch)


def _no_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def park(run_id: str, step_id: str, step_details: dict[str, Any], step_usage: dict[str, int],
         action: dict[str, Any], usage: dict[str, int], lease: ThreadLease | None = None
         ) -> dict[str, Any] | None:
    """in_progress -> requires_action, the tool step recording the calls that wait for
    outputs; `lease`, the parking worker's, is released with the events. None when a cancel
    won the race (the caller then ends the run `cancelled`)."""
    with unit_of_work() as conn:
        tables.update(conn, tables.STEPS, {"run_id": run_id}, step_id, "step_id",
                      {"step_details": step_details, "usage": step_usage})
        run = repository.move(conn, "runs", run_id, "requires_action",
                              {"required_action": action, "usage": usage}, stamp=False)
    if run is None:
        return None
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(redis_keys.RUN_DEADLINES, {run_id: run["expires_at"]})
    events.append(pipe, run_id, [("thread.run.requires_action", RUN.dump(run)),
                                 (events.DONE, "[DONE]")])
    if lease is not None:
        lease.release_on(pipe)
    pipe.execute()
    return run


def _outputs_by_call(run: dict[str, Any], outputs: list[dict[str, Any]]) -> dict[str, str]:
    """Every pending call's output, each given once; the error says which one is wrong."""
    pending = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
    given: dict[str, str] = {}
    for index, output in enumerate(outputs):
        call_id = output.get("tool_call_id")
        if not isinstance(call_id, str) or call_id not in pending:
            raise InvalidRequestError(
                f"Invalid 'tool_outputs[{index}].tool_call_id': no pending tool call "
                f"'{call_id}' on run {run['id']}.", param=f"tool_outputs[{index}].tool_call_id")
        if call_id in given:
            raise InvalidRequestError(
                f"Duplicate output for tool call '{call_id}'.",
                param=f"tool_outputs[{index}].tool_call_id")
        given[call_id] = output.get("output") or ""
    if any(c not in given for c in pending):
        raise InvalidRequestError(
            f"Expected tool outputs for call_ids {pending}, got {list(given)}.",
            param="tool_outputs")
    return given


def resume(project_id: str, thread_id: str, run_id: str, outputs: list[dict[str, Any]]
           ) -> tuple[dict[str, Any], str]:
    """requires_action -> queued with the function outputs recorded on the tool step; the
    run's task is sent again. Returns the run and the stream id a stream of this stretch
    reads after."""
    with unit_of_work() as conn:
        run = _locked(conn, project_id, thread_id, run_id)
        if run["status"] != "requires_action":
            raise InvalidRequestError(
                f"Runs in status \"{run['status']}\" do not accept tool outputs.", param=None)
        given = _outputs_by_call(run, outputs)
        step = repository.open_tool_step(conn, run_id)
        assert step is not None
        details = step["step_details"]
        for call in details["tool_calls"]:
            if call["type"] == "function" and call["id"] in given:
                call["function"]["output"] = given[call["id"]]
        step = repository.move(conn, "run_steps", step["id"], "completed",
                               {"step_details": details})
        resumed = repository.move(conn, "runs", run_id, "queued", {"required_action": None})
        assert resumed is not None and step is not None
    try:
        pipe = get_redis().pipeline(transaction=False)
        events.append(pipe, run_id, [("thread.run.step.completed",
                                      dump_step(step, run["include"])),
                                     ("thread.run.queued", RUN.dump(resumed))])
        pipe.zrem(redis_keys.RUN_DEADLINES, run_id)
        first = events.first_id(pipe.execute()[0])
        tasks.send_run(run_id, resumed["thread_id"])
    except (RedisError, KombuError, OSError) as error:
        # Committed `queued`: the timers send it (`recover_stalled`), so the outputs are
        # taken and the answer says so rather than inviting a second submission.
        log.warning("run %s resumed but not sent (%s): the timers will send it", run_id, error)
        return resumed, events.cursor_now()
    return resumed, events.just_before(first)


def request_cancel(project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    """A run no worker holds ends `cancelled` at once; one in progress goes `cancelling` and
    its worker, which watches the cancel flag between model chunks, ends it (`cancel`)."""
    return _request_cancel(lambda conn: _locked(conn, project_id, thread_id, run_id))


def request_response_cancel(project_id: str, response_id: str) -> dict[str, Any]:
    """`request_cancel` for the run of a stored response of the project."""
    def locked(conn: Conn) -> dict[str, Any]:
        run = responses.lock_run(conn, project_id, response_id)
        if run is None:
            raise NotFoundError(f"Response with id '{response_id}' not found.")
        return run
    return _request_cancel(locked)


def _request_cancel(lock: Callable[[Conn], dict[str, Any]]) -> dict[str, Any]:
    with unit_of_work() as conn:
        run = lock(conn)
        run_id = run["id"]
        settled: Batch = []
        if run["status"] in ("queued", "requires_action"):
            moved = repository.move(conn, "runs", run_id, "cancelled")
            if moved is not None:
                settled = _settle(conn, moved)
        elif run["status"] == "in_progress":
            moved = repository.move(conn, "runs", run_id, "cancelling")
        else:
            raise InvalidRequestError(
                f"Cannot cancel run with status '{run['status']}'.", param=None)
        assert moved is not None
    if moved["status"] == "cancelled":
        _publish_ended(run_id, [*settled, *_ended_events(moved)])
        return moved
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(redis_keys.run_cancel(run_id), "1", ex=get_settings().events_ttl_seconds)
    events.append(pipe, run_id, [("thread.run.cancelling", RUN.dump(moved))])
    pipe.execute()
    return moved


def cancel(run_id: str, usage: dict[str, int],
           partial: tuple[str, list[dict[str, Any]]] | None = None,
           lease: ThreadLease | None = None) -> dict[str, Any] | None:
    """cancelling (or in_progress) -> cancelled by the worker executing it. `partial`: the
    message the interrupted model call was writing and the content it got so far."""
    with unit_of_work() as conn:
        if partial is not None:
            message_id, content = partial
            tables.update(conn, tables.MESSAGES, {"run_id": run_id}, message_id, "message_id",
                          {"content": content})
        ended = repository.move(conn, "runs", run_id, "cancelled", {"usage": usage})
        settled = [] if ended is None else _settle(conn, ended)
    if ended is None:
        get_redis().delete(redis_keys.run_cancel(run_id))
        return None
    _publish_ended(run_id, [*settled, *_ended_events(ended)], lease)
    return ended


def end(run_id: str, status: str, usage: dict[str, int], changes: dict[str, Any] | None = None,
        closing: Sequence[Closing] = (), lease: ThreadLease | None = None
        ) -> dict[str, Any] | None:
    """in_progress (or cancelling) -> completed, incomplete or failed, with the `closing`
    moves; `lease`, the ending worker's, is released with the events. A run's end is one
    round trip to Postgres: BEGIN, the run's move, the closings and the settling of what it
    left open, and COMMIT go out together, and what follows the run's move writes only if
    that move is made (`repository.movement`), so an end that loses its compare-and-set
    changes nothing. A response's end reads what it records: two round trips
    (`_end_response`). None when the run had ended otherwise already (a cancel
    that came first ends in `cancelling`, which these moves leave: the answer was whole).
    """
    closings = list(closing)
    run_move = repository.movement("runs", run_id, status, {**(changes or {}), "usage": usage})
    if ending.is_response(run_id):
        ended, batch = _end_response(run_id, status, run_move, closings)
    else:
        ended, *rows = db.in_one_trip([run_move, *(c.statement(run_id) for c in closings),
                                       *repository.settlement(run_id, status)])
        batch = closed(closings, rows[:len(closings)])
    if ended is None:
        return None
    _publish_ended(run_id, [*batch, *_ended_events(ended)], lease)
    return ended


def _end_response(run_id: str, status: str, run_move: Statement, closings: list[Closing]
                  ) -> tuple[dict[str, Any] | None, Batch]:
    """`end` of a response's run, which reads what it records (`ending.record_end`): the
    reads go out behind the moves, in their round trip, and the records with COMMIT."""
    with db.batched() as conn:
        moved = conn.execute(*run_move)
        moves = [conn.execute(*c.statement(run_id)) for c in closings]
        for statement in repository.settlement(run_id, status):
            conn.execute(*statement)
        reads = responses.read_for_end(conn, run_id)
        ended = moved.fetchone()
        if ended is None:
            return None, []
        batch = closed(closings, [move.fetchone() for move in moves])
        return ended, [*batch, *ending.record_end(conn, ended, reads)]


def fail(run_id: str, usage: dict[str, int], code: str, message: str,
         lease: ThreadLease | None = None) -> dict[str, Any] | None:
    return end(run_id, "failed", usage, {"last_error": {"code": code, "message": message}},
               lease=lease)


def expire(run_id: str) -> bool:
    """requires_action (or any active status) past `expires_at` -> expired. True when this
    call expired it; the run leaves the deadline index unless its deadline is still ahead."""
    with unit_of_work() as conn:
        run = repository.expiry_of(conn, run_id)
        moved = None
        settled: Batch = []
        if run is not None and run["expires_at"] is not None and run["expires_at"] <= now():
            moved = repository.move(conn, "runs", run_id, "expired")
            if moved is not None:
                settled = _settle(conn, moved)
    if moved is not None:
        _publish_ended(run_id, [*settled, *_ended_events(moved)])
        return True
    if run is None or run["expires_at"] is None or run["expires_at"] <= now():
        get_redis().zrem(redis_keys.RUN_DEADLINES, run_id)
    return False


def expire_due() -> int:
    """Expire every run whose deadline passed; how many were expired."""
    members: Any = get_redis().zrangebyscore(redis_keys.RUN_DEADLINES, "-inf", now())
    return sum(expire(member.decode()) for member in members)


def rebuild_deadlines() -> None:
    """The deadline index is Redis's copy of Postgres's `expires_at`: rebuilt from it."""
    with unit_of_work() as conn:
        rows = repository.deadlines(conn)
    pipe = get_redis().pipeline()
    pipe.delete(redis_keys.RUN_DEADLINES)
    if rows:
        pipe.zadd(redis_keys.RUN_DEADLINES, {r["id"]: r["expires_at"] for r in rows})
    pipe.execute()


def hand_back(run_id: str) -> None:
    """A worker stopping lets go of a run it was executing (still `in_progress`, lease
    released): send its task again so another worker takes it up at once."""
    tasks.send_run(run_id)


def recover_stalled() -> int:
    """Requeue runs whose worker died (their lease lapsed) or whose task went missing; how
    many were requeued.

    A queued run's task may be waiting its turn in a long backlog, not lost: while the runs
    queue holds as many tasks as there are queued runs, none is sent again (each tick used to
    send every run that had waited two lease periods once more, growing the backlog by its
    own size every lease period). When it holds fewer, as many as are short are sent again,
    oldest first: a run whose task was lost falls behind those whose tasks are consumed."""
    lease = get_settings().run_lease_seconds
    with unit_of_work() as conn:
        rows = repository.executable(conn)
    queued = sorted((row for row in rows if row["status"] == "queued"),
                    key=lambda row: row["created_at"])
    waiting = tasks.waiting_runs()
    short = len(queued) if waiting is None else len(queued) - waiting
    candidates = [row for row in rows if row["status"] != "queued"]
    for row in queued:
        if short <= 0:
            break
        if now() - row["created_at"] >= 2 * lease:
            candidates.append(row)
            short -= 1
    redis = get_redis()
    requeued = 0
    for row in candidates:
        if is_held(row["thread_id"]):
            continue
        # One requeue per lease period, however often this runs.
        if redis.set(redis_keys.run_recovery(row["id"]), "1", nx=True, ex=lease):
            tasks.send_run(row["id"], row["thread_id"] if row["status"] == "queued" else None)
            requeued += 1
    return requeued
