"""Runs as the API sees them: create, read, modify, cancel, accept tool outputs.

The API only records; workers execute. Every status change, and the events and tasks it
sends after its commit, is `shared/runs/lifecycle`'s.
"""
from dataclasses import dataclass
from typing import Any

import psycopg

from shared.clock import now
from shared.config import get_settings
from shared.errors import InvalidRequestError, NotFoundError
from shared.messages.service import check_references as check_message_references
from shared.messages.service import insert_message
from shared.runs import events, lifecycle, repository
from shared.runs.relay import Joined
from shared.runs.steps import included
from shared.storage import db
from shared.storage import repository as tables
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import ASSISTANTS, RUNS, STEPS, THREADS
from shared.threads.service import check_references as check_thread_references
from shared.threads.service import insert_thread
from shared.tool_resources.service import check_references as check_tool_references
from shared.tool_resources.service import check_tool_resources

_ASSISTANT_DEFAULTS = ("model", "tools", "temperature", "top_p", "response_format",
                       "reasoning_effort")
_RUN_OPTIONS = ("max_prompt_tokens", "max_completion_tokens", "truncation_strategy",
                "tool_choice", "parallel_tool_calls", "metadata")
# The index that holds a thread to one active run.
ACTIVE_RUN_INDEX = "runs_one_active_per_thread"
# A new run's stream holds only its own events: a stream of its create starts at the top.
_STREAM_START = "0-0"

@dataclass(frozen=True)
class Created:
    run: dict[str, Any]
    thread: dict[str, Any] | None
    # A streamed answer relays the run's events after this entry.
    stream_after: str
    # A new run's stream, followed from before its first event for a streamed answer.
    expected: Joined | None = None


def _announce(run: dict[str, Any], thread: dict[str, Any] | None, streamed: bool) -> Created:
    """The run committed `queued`: its first events and its task (or the timers') go out;
    `streamed`: the answer relays them, so its stream is followed before they do."""
    expected = events.expect(run["id"]) if streamed else None
    try:
        lifecycle.queued(run, thread)
    except BaseException:
        if expected is not None:
            expected.leave()
        raise
    return Created(run, thread, _STREAM_START, expected)


def _assistant(conn: Conn, project_id: str, assistant_id: str) -> dict[str, Any]:
    """The run's assistant, resolved inside the project: one that is not there (another
    project's included) is a 404 naming it, as OpenAI answers a well-formed unknown id."""
    return _found_assistant(tables.getting(conn, ASSISTANTS, {"project_id": project_id},
                                           assistant_id, "assistant_id"), assistant_id)


def _found_assistant(read: psycopg.Cursor[dict[str, Any]], assistant_id: str
                     ) -> dict[str, Any]:
    try:
        return tables.got(read, ASSISTANTS, assistant_id)
    except NotFoundError as missing:
        raise NotFoundError(missing.message, param="assistant_id") from None


def _run_row(project_id: str, thread_id: str, assistant: dict[str, Any],
             fields: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "project_id": project_id,
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "status": "queued",
    }
    for name in _ASSISTANT_DEFAULTS:
        value = fields.get(name)
        row[name] = value if value is not None else assistant[name]
    instructions = fields.get("instructions")
    if instructions is None:
        instructions = assistant["instructions"] or ""
    if fields.get("additional_instructions"):
        instructions = f"{instructions}\n\n{fields['additional_instructions']}".strip()
    row["instructions"] = instructions
    for name in _RUN_OPTIONS:
        if fields.get(name) is not None:
            row[name] = fields[name]
    row["metadata"] = fields.get("metadata") or {}
    row["include"] = fields.get("include") or []
    if row.get("response_format") is None:
        row["response_format"] = "auto"
    created_at = now()
    row["created_at"] = created_at
    row["expires_at"] = created_at + get_settings().run_expiry_seconds
    return row


def _active_run_error(thread_id: str) -> InvalidRequestError:
    with reading() as conn:
        active = repository.active_run_id(conn, thread_id)
    named = f" {active}" if active is not None else ""
    return InvalidRequestError(f"Thread {thread_id} already has an active run{named}.",
                               param=None)


def create_run(project_id: str, thread_id: str, fields: dict[str, Any]) -> Created:
    scope = {"project_id": project_id}
    try:
        # Batched: BEGIN and the thread's and assistant's reads go out together, then the
        # run's insert with COMMIT (two round trips and two writes).
        with db.batched() as conn:
            thread_read = tables.getting(conn, THREADS, scope, thread_id, "thread_id",
                                         for_update=True)
            assistant_read = tables.getting(conn, ASSISTANTS, scope, fields["assistant_id"],
                                            "assistant_id")
            tables.got(thread_read, THREADS, thread_id)
            # Every id the body names is resolved before anything is written or sent.
            assistant = _found_assistant(assistant_read, fields["assistant_id"])
            messages = fields.get("additional_messages") or []
            for index, message in enumerate(messages):
                check_message_references(conn, project_id, message,
                                         f"additional_messages[{index}].")
            for index, message in enumerate(messages):
                insert_message(conn, project_id, thread_id, message,
                               f"additional_messages[{index}].")
            inserting = tables.inserting(
                conn, RUNS, _run_row(project_id, thread_id, assistant, fields))
        run = tables.inserted(inserting)
    except psycopg.errors.UniqueViolation as violation:
        # A thread with an active run is refused by the index the insert meets, so a new
        # run costs no query (nor savepoint) to look for one first; the refusal names it.
        if violation.diag.constraint_name != ACTIVE_RUN_INDEX:
            raise
        raise _active_run_error(thread_id) from None
    return _announce(run, None, bool(fields.get("stream")))


def create_thread_and_run(project_id: str, fields: dict[str, Any]) -> Created:
    # Batched (`create_run`): BEGIN goes with the first read, COMMIT with the run's insert.
    with db.batched() as conn:
        # Every id the body names is resolved before anything is written or sent.
        assistant = _assistant(conn, project_id, fields["assistant_id"])
        thread_fields = fields.get("thread") or {}
        check_thread_references(conn, project_id, thread_fields, "thread.")
        check_tool_references(conn, project_id, fields.get("tool_resources"),
                              "tool_resources")
        thread = insert_thread(conn, project_id, thread_fields, "thread.")
        row = _run_row(project_id, thread["id"], assistant, fields)
        if fields.get("tool_resources") is not None:
            row["tool_resources"] = check_tool_resources(
                conn, project_id, fields["tool_resources"], "tool_resources"
            )
        inserting = tables.inserting(conn, RUNS, row)
    return _announce(tables.inserted(inserting), thread, bool(fields.get("stream")))


def _scope(conn: Conn, project_id: str, thread_id: str) -> dict[str, str]:
    tables.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id")
    return {"project_id": project_id, "thread_id": thread_id}


def get_run(project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    with reading() as conn:
        return tables.get(conn, RUNS, _scope(conn, project_id, thread_id), run_id, "run_id")


def list_runs(project_id: str, thread_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        return tables.page(conn, RUNS, _scope(conn, project_id, thread_id), query)


def modify_run(project_id: str, thread_id: str, run_id: str, changes: dict[str, Any]
               ) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _scope(conn, project_id, thread_id)
        return tables.update(conn, RUNS, scope, run_id, "run_id", changes)


def cancel_run(project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    return lifecycle.request_cancel(project_id, thread_id, run_id)


def submit_tool_outputs(project_id: str, thread_id: str, run_id: str,
                        outputs: list[dict[str, Any]]) -> Created:
    run, stream_after = lifecycle.resume(project_id, thread_id, run_id, outputs)
    return Created(run, None, stream_after)


def list_steps(project_id: str, thread_id: str, run_id: str, query: PageQuery,
               include: list[str]) -> Page:
    with reading() as conn:
        scope = _scope(conn, project_id, thread_id)
        tables.get(conn, RUNS, scope, run_id, "run_id")
        page = tables.page(conn, STEPS, {"project_id": project_id, "run_id": run_id}, query)
    for step in page.data:
        included(step, include)
    return page


def get_step(project_id: str, thread_id: str, run_id: str, step_id: str,
             include: list[str]) -> dict[str, Any]:
    with reading() as conn:
        scope = _scope(conn, project_id, thread_id)
        tables.get(conn, RUNS, scope, run_id, "run_id")
        step = tables.get(conn, STEPS, {"project_id": project_id, "run_id": run_id},
                          step_id, "step_id")
    return included(step, include)
