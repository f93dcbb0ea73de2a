"""Every status change of a run (`shared.runs.lifecycle`) over real Postgres and Redis: the
compare-and-set, the children settled, the cancel flag and deadline index, the events.

Sending the run's task is recorded instead of sent (`tasks.send_run` is the one thing
replaced): a real worker of the session would otherwise take the test's runs up.
"""
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis import Redis

from shared.clock import now
from shared.errors import InvalidRequestError
from shared.messages.repository import thread_history
from shared.objects import MESSAGE, STEP
from shared.platform import tasks
from shared.projects.api_keys import ensure_project
from shared.runs import events, lifecycle, repository, streamed
from shared.runs.leases import ThreadLease
from shared.storage import redis_keys
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.redis import get_redis
from shared.storage.repository import ASSISTANTS, MESSAGES, RUNS, STEPS, THREADS
from tests.conftest import own_database
from tests.support.pool import pool_on

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


@pytest.fixture
def redis(database_url: str, redis_url: str) -> Redis:
    return get_redis()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run ids whose task the lifecycle sent."""
    runs: list[str] = []
    monkeypatch.setattr(tasks, "send_run", lambda run_id, thread_id=None: runs.append(run_id))
    return runs


@dataclass
class Run:
    project_id: str
    thread_id: str
    id: str

    def row(self) -> dict[str, Any]:
        with reading() as conn:
            found = repository.find(conn, self.id)
        assert found is not None
        return found

    def events(self) -> list[tuple[str, Any]]:
        entries: Any = get_redis().xrange(redis_keys.run_events(self.id))
        return [(fields[b"e"].decode(), fields[b"d"].decode()) for _, fields in entries]

    def names(self) -> list[str]:
        return [name for name, _ in self.events()]

    def set(self, **changes: Any) -> None:
        with unit_of_work() as conn:
            tables.update(conn, RUNS, {"project_id": self.project_id}, self.id, "run_id",
                          changes)

    def add_step(self, kind: str = "tool_calls", details: dict[str, Any] | None = None
                 ) -> str:
        with unit_of_work() as conn:
            step = tables.insert(conn, STEPS, {
                "project_id": self.project_id, "run_id": self.id, "thread_id": self.thread_id,
                "assistant_id": "asst_x", "created_at": now(), "type": kind,
                "status": "in_progress",
                "step_details": details or {"type": kind, "tool_calls": []}})
        return str(step["id"])

    def add_message(self) -> str:
        with unit_of_work() as conn:
            message = tables.insert(conn, MESSAGES, {
                "project_id": self.project_id, "thread_id": self.thread_id,
                "created_at": now(), "status": "in_progress", "role": "assistant",
                "content": [], "assistant_id": "asst_x", "run_id": self.id,
                "attachments": [], "metadata": {}})
        return str(message["id"])

    def child(self, table: Any, child_id: str) -> dict[str, Any]:
        with reading() as conn:
            return tables.get(conn, table, {"run_id": self.id}, child_id, "id")


def make_run(status: str = "queued", **fields: Any) -> Run:
    project_id = ensure_project(f"lifecycle-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        assistant = tables.insert(conn, ASSISTANTS, {
            "project_id": project_id, "created_at": now(), "model": "test-model"})
        thread = tables.insert(conn, THREADS, {"project_id": project_id, "created_at": now()})
        run = tables.insert(conn, RUNS, {
            "project_id": project_id, "thread_id": thread["id"],
            "assistant_id": assistant["id"], "created_at": now(), "status": status,
            "model": "test-model", "expires_at": now() + 600, **fields})
    return Run(project_id, thread["id"], run["id"])


@pytest.fixture
def run(redis: Redis) -> Run:
    return make_run()


def parked(sent: list[str], calls: tuple[str, ...] = ("call_a", "call_b")) -> tuple[Run, str]:
    """A run in requires_action waiting on function calls, parked by the lifecycle."""
    run = make_run("in_progress")
    entries = [{"id": c, "type": "function",
                "function": {"name": "f", "arguments": "{}", "output": None}} for c in calls]
    step_id = run.add_step(details={"type": "tool_calls", "tool_calls": []})
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": c, "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for c in calls]}}
    assert lifecycle.park(run.id, step_id, {"type": "tool_calls", "tool_calls": entries},
                          USAGE, action, USAGE) is not None
    return run, step_id


def test_queued_announces_the_run_and_sends_its_task(run: Run, sent: list[str]) -> None:
    stream_from = lifecycle.queued(run.row())
    assert run.names() == ["thread.run.created", "thread.run.queued"]
    assert stream_from == get_redis().xrange(redis_keys.run_events(run.id))[0][0].decode()
    assert sent == [run.id]


def test_start_takes_a_queued_run(run: Run) -> None:
    started = lifecycle.start(run.id)
    assert started is not None and started["status"] == "in_progress"
    assert started["attempts"] == 1 and started["started_at"] is not None
    assert run.names() == ["thread.run.in_progress"]


def test_start_reads_what_comes_next_in_its_round_trip_only_for_a_queued_run(
        redis: Redis) -> None:
    run = make_run()
    started, rows = lifecycle.start_reading(run.id, ("SELECT id, status FROM runs WHERE id = %s",
                                                     (run.id,)))
    assert started is not None and started["status"] == "in_progress"
    # Read in the same transaction, after the move.
    assert rows == [{"id": run.id, "status": "in_progress"}]
    assert run.names() == ["thread.run.in_progress"]
    # Not queued now: the read is not answered, for it would precede a takeover's writes.
    assert lifecycle.start_reading(run.id, ("SELECT 1", ()))[1] is None


def announced(run: Run, step_id: str, message_id: str | None = None
              ) -> list[tuple[str, Any]]:
    """The events an execution sends as it opens a step (and its message)."""
    step = STEP.dump(run.child(STEPS, step_id))
    opened = [("thread.run.step.created", step), ("thread.run.step.in_progress", step)]
    if message_id is not None:
        message = MESSAGE.dump(run.child(MESSAGES, message_id))
        opened += [("thread.message.created", message), ("thread.message.in_progress", message)]
    return opened


def interrupted(run: Run) -> tuple[str, str, str]:
    """A run whose execution died writing a message (after a tool step that completed) and
    streaming a tool call: the message, its step and the tool step, as its stream showed."""
    done_step = run.add_step()
    with unit_of_work() as conn:
        repository.move(conn, "run_steps", done_step, "completed")
    message = run.add_message()
    text_step = run.add_step("message_creation", {
        "type": "message_creation", "message_creation": {"message_id": message}})
    tool_step = run.add_step()
    events.publish(run.id, [
        *announced(run, text_step, message), *announced(run, tool_step),
        ("thread.message.delta", {"id": message, "object": "thread.message.delta", "delta": {
            "content": [{"index": 0, "type": "text", "text": {"value": "Echo: kill",
                                                              "annotations": []}}]}}),
        ("thread.run.step.delta", {"id": tool_step, "object": "thread.run.step.delta",
                                   "delta": {"step_details": {"type": "tool_calls",
                                                              "tool_calls": [CALL_SHOWN]}}}),
    ])
    return message, text_step, tool_step


CALL_SHOWN = {"index": 0, "id": "call_x", "type": "function",
              "function": {"name": "f", "arguments": '{"a"', "output": None}}


def test_start_takes_over_an_interrupted_run_keeping_what_its_stream_showed(
        redis: Redis) -> None:
    run = make_run("in_progress", attempts=1, started_at=123)
    message, text_step, tool_step = interrupted(run)
    started = lifecycle.start(run.id)
    assert started is not None
    assert (started["status"], started["attempts"], started["started_at"]) == (
        "in_progress", 2, 123)
    # The message stays open with the text its stream showed, for the next call to go on.
    kept = run.child(MESSAGES, message)
    assert kept["status"] == "in_progress" and kept["content"] == [
        {"type": "text", "text": {"value": "Echo: kill", "annotations": []}}]
    assert run.child(STEPS, text_step)["status"] == "in_progress"
    # The tool step is withdrawn holding the call its stream showed; the run's status did
    # not change, so no second thread.run.in_progress.
    failed = run.child(STEPS, tool_step)
    assert failed["status"] == "failed" and failed["last_error"] == streamed.WORKER_LOST
    shown = {k: v for k, v in CALL_SHOWN.items() if k != "index"}
    assert failed["step_details"] == {"type": "tool_calls", "tool_calls": [shown]}
    name, data = run.events()[-1]
    assert name == "thread.run.step.failed" and json.loads(data)["id"] == tool_step
    assert "thread.run.in_progress" not in run.names()
    # What the stream announced is not announced again.
    assert run.names().count("thread.message.created") == 1
    assert run.names().count("thread.run.step.created") == 2


def test_start_announces_what_an_execution_opened_but_died_before_announcing(
        redis: Redis) -> None:
    run = make_run("in_progress", attempts=1)
    # Rows committed, their events never sent: the stream showed nothing of them.
    message = run.add_message()
    text_step = run.add_step("message_creation", {
        "type": "message_creation", "message_creation": {"message_id": message}})
    tool_step = run.add_step()
    assert lifecycle.start(run.id) is not None
    shown = [(name, json.loads(data)["id"]) for name, data in run.events()]
    assert shown == [
        ("thread.run.step.created", text_step), ("thread.run.step.in_progress", text_step),
        ("thread.message.created", message), ("thread.message.in_progress", message),
        ("thread.run.step.created", tool_step), ("thread.run.step.in_progress", tool_step),
        ("thread.run.step.failed", tool_step)]
    # The message stays open for the next call to carry on with, as it was announced.
    kept = run.child(MESSAGES, message)
    assert kept["status"] == "in_progress" and kept["content"] == []
    assert json.loads(run.events()[2][1])["content"] == []


def test_withdraw_ends_the_message_and_keeps_it_out_of_later_prompts(redis: Redis) -> None:
    run = make_run("in_progress", attempts=1)
    message, text_step, _ = interrupted(run)
    assert lifecycle.start(run.id) is not None
    lifecycle.withdraw(run.id, message, text_step)
    ended = run.child(MESSAGES, message)
    assert ended["status"] == "incomplete" and ended["incomplete_at"] is not None
    assert ended["incomplete_details"] == {"reason": streamed.WITHDRAWN_REASON}
    assert ended["content"][0]["text"]["value"] == "Echo: kill"
    step = run.child(STEPS, text_step)
    assert step["status"] == "failed" and step["last_error"] == streamed.WORKER_LOST
    assert run.names()[-2:] == ["thread.message.incomplete", "thread.run.step.failed"]
    with reading() as conn:
        assert thread_history(conn, run.thread_id, "run_later") == []


def test_a_run_cancelled_while_its_worker_died_keeps_the_shown_text(redis: Redis) -> None:
    run = make_run("cancelling")
    message, _, _ = interrupted(run)
    assert lifecycle.start(run.id) is None
    ended = run.child(MESSAGES, message)
    assert ended["status"] == "incomplete"
    assert ended["content"][0]["text"]["value"] == "Echo: kill"


def test_start_ends_a_run_cancelled_while_it_waited(redis: Redis) -> None:
    run = make_run("cancelling")
    redis.set(redis_keys.run_cancel(run.id), "1")
    assert lifecycle.start(run.id) is None
    assert run.row()["status"] == "cancelled"
    assert run.names() == ["thread.run.cancelled", "done"]
    assert not redis.exists(redis_keys.run_cancel(run.id))


@pytest.mark.parametrize("status", ["completed", "requires_action", "expired"])
def test_start_leaves_a_run_no_worker_may_take(redis: Redis, status: str) -> None:
    run = make_run(status)
    assert lifecycle.start(run.id) is None
    assert run.row()["status"] == status and run.names() == []


def test_park_waits_for_outputs_with_a_deadline(redis: Redis, sent: list[str]) -> None:
    run, step_id = parked(sent)
    row = run.row()
    assert row["status"] == "requires_action" and row["usage"] == USAGE
    assert redis.zscore(redis_keys.RUN_DEADLINES, run.id) == row["expires_at"]
    assert run.names() == ["thread.run.requires_action", "done"]
    assert run.child(STEPS, step_id)["usage"] == USAGE


def test_park_loses_to_a_cancel(redis: Redis) -> None:
    run = make_run("cancelling")
    step_id = run.add_step()
    assert lifecycle.park(run.id, step_id, {"type": "tool_calls", "tool_calls": []}, USAGE,
                          {"type": "submit_tool_outputs"}, USAGE) is None
    assert run.row()["status"] == "cancelling"
    assert not redis.zscore(redis_keys.RUN_DEADLINES, run.id)


@pytest.mark.parametrize(("outputs", "param"), [
    ([{"tool_call_id": "call_a", "output": "1"}], "tool_outputs"),
    ([{"tool_call_id": "call_a", "output": "1"}, {"tool_call_id": "call_a", "output": "2"}],
     "tool_outputs[1].tool_call_id"),
    ([{"tool_call_id": "call_z", "output": "1"}], "tool_outputs[0].tool_call_id"),
])
def test_resume_refuses_wrong_outputs_and_changes_nothing(
        redis: Redis, sent: list[str], outputs: list[dict[str, Any]], param: str) -> None:
    run, step_id = parked(sent)
    with pytest.raises(InvalidRequestError) as refused:
        lifecycle.resume(run.project_id, run.thread_id, run.id, outputs)
    assert refused.value.param == param
    assert run.row()["status"] == "requires_action"
    assert run.child(STEPS, step_id)["status"] == "in_progress"
    assert sent == []


def test_resume_records_the_outputs_and_requeues(redis: Redis, sent: list[str]) -> None:
    run, step_id = parked(sent)
    resumed, stream_after = lifecycle.resume(run.project_id, run.thread_id, run.id, [
        {"tool_call_id": "call_b", "output": "B"}, {"tool_call_id": "call_a", "output": "A"}])
    assert resumed["status"] == "queued" and resumed["required_action"] is None
    step = run.child(STEPS, step_id)
    assert step["status"] == "completed"
    assert [c["function"]["output"] for c in step["step_details"]["tool_calls"]] == ["A", "B"]
    assert not redis.zscore(redis_keys.RUN_DEADLINES, run.id)
    assert run.names()[-2:] == ["thread.run.step.completed", "thread.run.queued"]
    first = redis.xrange(redis_keys.run_events(run.id))[-2][0].decode()
    assert stream_after == events.just_before(first)
    assert sent == [run.id]


def test_resume_refuses_a_run_that_waits_for_nothing(run: Run, sent: list[str]) -> None:
    with pytest.raises(InvalidRequestError, match="do not accept tool outputs"):
        lifecycle.resume(run.project_id, run.thread_id, run.id, [])
    assert sent == []


def test_a_cancel_ends_a_run_no_worker_holds_at_once(redis: Redis, sent: list[str]) -> None:
    run, step_id = parked(sent)
    cancelled = lifecycle.request_cancel(run.project_id, run.thread_id, run.id)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert cancelled["expires_at"] is None and cancelled["required_action"] is None
    assert run.child(STEPS, step_id)["status"] == "cancelled"
    assert not redis.zscore(redis_keys.RUN_DEADLINES, run.id)
    assert run.names()[-2:] == ["thread.run.cancelled", "done"]
    assert sent == []


def test_a_cancel_asks_the_worker_of_a_run_in_progress(redis: Redis) -> None:
    run = make_run("in_progress")
    cancelling = lifecycle.request_cancel(run.project_id, run.thread_id, run.id)
    assert cancelling["status"] == "cancelling"
    assert redis.exists(redis_keys.run_cancel(run.id))
    assert redis.ttl(redis_keys.run_cancel(run.id)) > 0
    assert run.names() == ["thread.run.cancelling"]


@pytest.mark.parametrize("status", ["completed", "cancelling", "expired"])
def test_a_cancel_of_a_run_that_cannot_be_cancelled_is_refused(redis: Redis,
                                                              status: str) -> None:
    run = make_run(status)
    with pytest.raises(InvalidRequestError, match=f"status '{status}'"):
        lifecycle.request_cancel(run.project_id, run.thread_id, run.id)
    assert run.row()["status"] == status and run.names() == []


def test_a_cancel_of_another_projects_run_is_not_found(redis: Redis) -> None:
    run, other = make_run("in_progress"), make_run()
    with pytest.raises(Exception, match="No thread found"):
        lifecycle.request_cancel(other.project_id, run.thread_id, run.id)
    assert run.row()["status"] == "in_progress"


def test_the_worker_finishes_a_cancel_keeping_the_partial_answer(redis: Redis) -> None:
    run = make_run("cancelling")
    message_id, step_id = run.add_message(), run.add_step("message_creation")
    redis.set(redis_keys.run_cancel(run.id), "1")
    partial = [{"type": "text", "text": {"value": "Half an ans", "annotations": []}}]
    ended = lifecycle.cancel(run.id, USAGE, (message_id, partial))
    assert ended is not None and ended["status"] == "cancelled" and ended["usage"] == USAGE
    message = run.child(MESSAGES, message_id)
    assert message["content"] == partial and message["status"] == "incomplete"
    assert message["incomplete_details"] == {"reason": "run_cancelled"}
    assert run.child(STEPS, step_id)["status"] == "cancelled"
    assert not redis.exists(redis_keys.run_cancel(run.id))
    assert run.names() == ["thread.run.cancelled", "done"]


def completing(message_id: str) -> lifecycle.Closing:
    return lifecycle.Closing("messages", message_id, "completed", {"content": []},
                             lambda row: [("thread.message.completed", {"id": row["id"]})])


def test_end_completes_with_the_closing_writes_in_the_same_transaction(redis: Redis) -> None:
    run = make_run("in_progress")
    message_id = run.add_message()
    ended = lifecycle.end(run.id, "completed", USAGE, closing=[completing(message_id)])
    assert ended is not None and ended["status"] == "completed"
    assert ended["completed_at"] is not None and ended["expires_at"] is None
    assert run.child(MESSAGES, message_id)["status"] == "completed"
    assert run.names() == ["thread.message.completed", "thread.run.completed", "done"]


@pytest.mark.parametrize("status", ["cancelled", "expired", "completed"])
@pytest.mark.parametrize("target", ["completed", "failed"])
def test_an_end_that_loses_the_compare_and_set_changes_nothing(redis: Redis, status: str,
                                                               target: str) -> None:
    # The closings and the settling are sent with the run's move in one round trip: they
    # must not write when that move is not made.
    run = make_run(status)
    message_id, step_id = run.add_message(), run.add_step("message_creation")
    before = run.row()
    assert lifecycle.end(run.id, target, USAGE, closing=[completing(message_id)]) is None
    assert run.row() == before
    assert run.child(MESSAGES, message_id)["status"] == "in_progress"
    assert run.child(STEPS, step_id)["status"] == "in_progress"
    assert run.names() == []


def test_the_settling_writes_only_with_the_runs_move(redis: Redis) -> None:
    # Under the statements' own condition, a run that did not move in the transaction
    # settles nothing, whatever its status says.
    run = make_run("failed")
    step_id = run.add_step()
    with unit_of_work() as conn:
        repository.settle_children(conn, run.id, "failed")
    assert run.child(STEPS, step_id)["status"] == "in_progress"
    with unit_of_work() as conn:
        conn.execute("UPDATE runs SET status = 'failed' WHERE id = %s", (run.id,))
        repository.settle_children(conn, run.id, "failed")
    assert run.child(STEPS, step_id)["status"] == "failed"


def test_the_ending_workers_lease_goes_with_the_events(redis: Redis) -> None:
    run = make_run("in_progress")
    lease, following = ThreadLease(run.thread_id), ThreadLease(run.thread_id)
    assert lease.acquire()
    with lease:
        assert lifecycle.end(run.id, "completed", USAGE, lease=lease) is not None
        assert not redis.exists(redis_keys.thread_lease(run.thread_id))
        # The thread is free for its next run before this worker leaves the block.
        assert following.acquire()
    # Leaving the block released nothing more: the next holder keeps the lease.
    assert redis.exists(redis_keys.thread_lease(run.thread_id)) and not following.lost
    following.release()


def test_a_park_releases_the_workers_lease_with_the_events(redis: Redis) -> None:
    run = make_run("in_progress")
    step_id = run.add_step()
    lease = ThreadLease(run.thread_id)
    assert lease.acquire()
    with lease:
        assert lifecycle.park(run.id, step_id, {"type": "tool_calls", "tool_calls": []}, USAGE,
                              {"type": "submit_tool_outputs"}, USAGE, lease) is not None
        assert not redis.exists(redis_keys.thread_lease(run.thread_id))
    assert run.names() == ["thread.run.requires_action", "done"]


def test_a_cancel_releases_the_workers_lease_with_the_events(redis: Redis) -> None:
    run = make_run("cancelling")
    lease = ThreadLease(run.thread_id)
    assert lease.acquire()
    with lease:
        assert lifecycle.cancel(run.id, USAGE, lease=lease) is not None
        assert not redis.exists(redis_keys.thread_lease(run.thread_id))
    assert run.names() == ["thread.run.cancelled", "done"]


def test_an_end_that_loses_keeps_the_workers_lease_until_it_lets_go(redis: Redis) -> None:
    run = make_run("expired")
    lease = ThreadLease(run.thread_id)
    assert lease.acquire()
    with lease:
        assert lifecycle.end(run.id, "completed", USAGE, lease=lease) is None
        assert redis.exists(redis_keys.thread_lease(run.thread_id))
    assert not redis.exists(redis_keys.thread_lease(run.thread_id))


def test_end_incomplete_settles_what_is_open(redis: Redis) -> None:
    run = make_run("in_progress")
    message_id, step_id = run.add_message(), run.add_step("message_creation")
    ended = lifecycle.end(run.id, "incomplete", USAGE,
                          {"incomplete_details": {"reason": "max_prompt_tokens"}})
    assert ended is not None and ended["incomplete_details"] == {"reason": "max_prompt_tokens"}
    assert run.child(MESSAGES, message_id)["incomplete_details"] == {"reason": "max_tokens"}
    assert run.child(STEPS, step_id)["status"] == "cancelled"


def test_fail_records_the_error(redis: Redis) -> None:
    run = make_run("in_progress")
    step_id = run.add_step()
    ended = lifecycle.fail(run.id, USAGE, "rate_limit_exceeded", "Slow down.")
    assert ended is not None and ended["failed_at"] is not None
    assert ended["last_error"] == {"code": "rate_limit_exceeded", "message": "Slow down."}
    assert run.child(STEPS, step_id)["status"] == "failed"
    failed = json.loads(run.events()[0][1])
    assert failed["status"] == "failed" and failed["last_error"]["code"] == "rate_limit_exceeded"


def test_end_after_a_cancel_ends_the_run_cancelled(redis: Redis) -> None:
    run = make_run("cancelling")
    redis.set(redis_keys.run_cancel(run.id), "1")
    assert lifecycle.end(run.id, "completed", USAGE) is not None
    # cancelling -> completed is legal: the answer was whole before the cancel was seen.
    assert run.row()["status"] == "completed"
    assert not redis.exists(redis_keys.run_cancel(run.id))


def test_expire_due_expires_what_is_past_its_deadline(redis: Redis, sent: list[str]) -> None:
    due, step_id = parked(sent)
    later, _ = parked(sent)
    due.set(expires_at=now() - 1)
    redis.zadd(redis_keys.RUN_DEADLINES, {due.id: now() - 1})
    assert lifecycle.expire_due() >= 1
    assert due.row()["status"] == "expired"
    assert due.child(STEPS, step_id)["status"] == "expired"
    assert due.names()[-2:] == ["thread.run.expired", "done"]
    assert not redis.zscore(redis_keys.RUN_DEADLINES, due.id)
    assert later.row()["status"] == "requires_action"
    assert redis.zscore(redis_keys.RUN_DEADLINES, later.id)


def test_expire_keeps_a_deadline_pushed_later_and_drops_a_gone_run(redis: Redis,
                                                                   sent: list[str]) -> None:
    run, _ = parked(sent)
    assert lifecycle.expire(run.id) is False
    assert redis.zscore(redis_keys.RUN_DEADLINES, run.id)
    gone = f"run_{uuid.uuid4().hex}"
    redis.zadd(redis_keys.RUN_DEADLINES, {gone: 1})
    assert lifecycle.expire(gone) is False
    assert not redis.zscore(redis_keys.RUN_DEADLINES, gone)


def test_rebuild_deadlines_restores_the_index_from_postgres(redis: Redis,
                                                            sent: list[str]) -> None:
    run, _ = parked(sent)
    redis.delete(redis_keys.RUN_DEADLINES)
    lifecycle.rebuild_deadlines()
    assert redis.zscore(redis_keys.RUN_DEADLINES, run.id) == run.row()["expires_at"]


@pytest.fixture
def lease_held() -> Iterator[list[ThreadLease]]:
    held: list[ThreadLease] = []
    yield held
    for lease in held:
        lease.release()


@pytest.fixture
def unwatched(database_url: str) -> Iterator[None]:
    """This process's pool on a database of its own, which the session's timers (watching
    the suite's, every 2 s) never requeue a run of before the test's own recovery does."""
    with own_database({**os.environ}, "lifecycle-recovery") as (env, _), \
            pool_on(TREADLE_DATABASE_URL=env["TREADLE_DATABASE_URL"]):
        yield


def test_recovery_requeues_a_run_whose_worker_is_gone_once_per_lease(
        unwatched: None, redis: Redis, sent: list[str], lease_held: list[ThreadLease]) -> None:
    orphan = make_run("in_progress")
    held = make_run("in_progress")
    lease = ThreadLease(held.thread_id)
    assert lease.acquire()
    lease_held.append(lease)
    make_run("queued")
    lifecycle.recover_stalled()
    assert sent == [orphan.id]
    lifecycle.recover_stalled()
    assert sent == [orphan.id]


def test_hand_back_sends_the_run_again(run: Run, sent: list[str]) -> None:
    lifecycle.hand_back(run.id)
    assert sent == [run.id]
