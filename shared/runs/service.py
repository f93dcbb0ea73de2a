"""Runs as the API sees them: create, read, modify, cancel, accept tool outputs.

The API only records and enqueues; workers execute. Events the API itself causes (created,
queued, a cancel, submitted outputs) go to the run's stream after the transaction commits,
and tasks are sent after that, so a worker never looks for a row that is not there yet.
"""
from dataclasses import dataclass
from typing import Any

import psycopg

from shared.clock import now
from shared.config import get_settings
from shared.errors import InvalidRequestError
from shared.messages.service import insert_message
from shared.objects import RUN, STEP
from shared.platform import tasks
from shared.runs import events
from shared.runs import states as run_states
from shared.storage import redis_keys, repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.redis import get_redis
from shared.storage.repository import ASSISTANTS, RUNS, STEPS, THREADS
from shared.threads.service import insert_thread
from shared.tool_resources.service import check_tool_resources

_ASSISTANT_DEFAULTS = ("model", "tools", "temperature", "top_p", "response_format",
                       "reasoning_effort")
_RUN_OPTIONS = ("max_prompt_tokens", "max_completion_tokens", "truncation_strategy",
                "tool_choice", "parallel_tool_calls", "metadata")


@dataclass(frozen=True)
class Created:
    run: dict[str, Any]
    thread: dict[str, Any] | None
    stream_from: str


def active_run_id(conn: Conn, thread_id: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM runs WHERE thread_id = %s AND status = ANY(%s)",
        (thread_id, list(run_states.ACTIVE)),
    ).fetchone()
    return str(row["id"]) if row else None


def _run_row(conn: Conn, project_id: str, thread_id: str, fields: dict[str, Any]
             ) -> dict[str, Any]:
    assistant = repository.get(conn, ASSISTANTS, {"project_id": project_id},
                               fields["assistant_id"], "assistant_id")
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


def _insert_run(conn: Conn, thread_id: str, row: dict[str, Any]) -> dict[str, Any]:
    try:
        with conn.transaction():
            return repository.insert(conn, RUNS, row)
    except psycopg.errors.UniqueViolation:
        active = active_run_id(conn, thread_id)
        raise InvalidRequestError(
            f"Thread {thread_id} already has an active run {active}.", param=None
        ) from None


def _announce(run: dict[str, Any], first: list[tuple[str, Any]] | None = None) -> str:
    dumped = RUN.dump(run)
    return events.publish(run["id"], [*(first or []), ("thread.run.created", dumped),
                                      ("thread.run.queued", dumped)])


def create_run(project_id: str, thread_id: str, fields: dict[str, Any]) -> Created:
    with unit_of_work() as conn:
        repository.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id",
                       for_update=True)
        active = active_run_id(conn, thread_id)
        if active is not None:
            raise InvalidRequestError(f"Thread {thread_id} already has an active run {active}.")
        for index, message in enumerate(fields.get("additional_messages") or []):
            insert_message(conn, project_id, thread_id, message,
                           f"additional_messages[{index}].")
        run = _insert_run(conn, thread_id, _run_row(conn, project_id, thread_id, fields))
    stream_from = _announce(run)
    tasks.send_run(run["id"])
    return Created(run, None, stream_from)


def create_thread_and_run(project_id: str, fields: dict[str, Any]) -> Created:
    with unit_of_work() as conn:
        thread = insert_thread(conn, project_id, fields.get("thread") or {})
        row = _run_row(conn, project_id, thread["id"], fields)
        if fields.get("tool_resources") is not None:
            row["tool_resources"] = check_tool_resources(
                conn, project_id, fields["tool_resources"], "tool_resources"
            )
        run = _insert_run(conn, thread["id"], row)
    from shared.objects import THREAD

    stream_from = _announce(run, [("thread.created", THREAD.dump(thread))])
    tasks.send_run(run["id"])
    return Created(run, thread, stream_from)


def _scope(conn: Conn, project_id: str, thread_id: str) -> dict[str, str]:
    repository.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id")
    return {"project_id": project_id, "thread_id": thread_id}


def get_run(project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, RUNS, _scope(conn, project_id, thread_id), run_id, "run_id")


def list_runs(project_id: str, thread_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        return repository.page(conn, RUNS, _scope(conn, project_id, thread_id), query)


def modify_run(project_id: str, thread_id: str, run_id: str, changes: dict[str, Any]
               ) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _scope(conn, project_id, thread_id)
        return repository.update(conn, RUNS, scope, run_id, "run_id", changes)


def cancel_run(project_id: str, thread_id: str, run_id: str) -> dict[str, Any]:
    """Runs no worker holds end `cancelled` at once; a run in progress goes `cancelling`
    and its worker, which watches the cancel flag between model chunks, finishes the move."""
    with unit_of_work() as conn:
        scope = _scope(conn, project_id, thread_id)
        run = repository.get(conn, RUNS, scope, run_id, "run_id", for_update=True)
        if run["status"] in ("queued", "requires_action"):
            moved = run_states.move(conn, "runs", run_id, "cancelled")
            if moved is not None:
                run_states.settle_run_children(conn, run_id, "cancelled")
        elif run["status"] == "in_progress":
            moved = run_states.move(conn, "runs", run_id, "cancelling")
        else:
            raise InvalidRequestError(
                f"Cannot cancel run with status '{run['status']}'.", param=None
            )
        assert moved is not None
    if moved["status"] == "cancelling":
        get_redis().set(redis_keys.run_cancel(run_id), "1", ex=get_settings().events_ttl_seconds)
        events.publish(run_id, [("thread.run.cancelling", RUN.dump(moved))])
    else:
        get_redis().zrem(redis_keys.RUN_DEADLINES, run_id)
        events.publish(run_id, [("thread.run.cancelled", RUN.dump(moved)),
                                (events.DONE, "[DONE]")])
    return moved


def submit_tool_outputs(project_id: str, thread_id: str, run_id: str,
                        outputs: list[dict[str, Any]]) -> Created:
    with unit_of_work() as conn:
        scope = _scope(conn, project_id, thread_id)
        run = repository.get(conn, RUNS, scope, run_id, "run_id", for_update=True)
        if run["status"] != "requires_action":
            raise InvalidRequestError(
                f"Runs in status \"{run['status']}\" do not accept tool outputs.", param=None
            )
        pending = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
        given = {}
        for index, output in enumerate(outputs):
            call_id = output.get("tool_call_id")
            if call_id not in pending:
                raise InvalidRequestError(
                    f"Invalid 'tool_outputs[{index}].tool_call_id': no pending tool call "
                    f"'{call_id}' on run {run_id}.", param=f"tool_outputs[{index}].tool_call_id")
            if call_id in given:
                raise InvalidRequestError(
                    f"Duplicate output for tool call '{call_id}'.",
                    param=f"tool_outputs[{index}].tool_call_id")
            given[call_id] = output.get("output") or ""
        missing = [c for c in pending if c not in given]
        if missing:
            raise InvalidRequestError(
                f"Expected tool outputs for call_ids {pending}, got {list(given)}.",
                param="tool_outputs")
        step = conn.execute(
            "SELECT * FROM run_steps WHERE run_id = %s AND type = 'tool_calls' "
            "AND status = 'in_progress' ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        assert step is not None
        details = step["step_details"]
        for call in details["tool_calls"]:
            if call["type"] == "function" and call["id"] in given:
                call["function"]["output"] = given[call["id"]]
        step = run_states.move(conn, "run_steps", step["id"], "completed",
                               {"step_details": details})
        queued = run_states.move(conn, "runs", run_id, "queued", {"required_action": None})
        assert queued is not None and step is not None
    get_redis().zrem(redis_keys.RUN_DEADLINES, run_id)
    stream_from = events.publish(run_id, [("thread.run.step.completed",
                                           dump_step(step, run["include"])),
                                          ("thread.run.queued", RUN.dump(queued))])
    tasks.send_run(run_id)
    return Created(queued, None, stream_from)


SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def _included(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """file_search results carry their text only when the caller asks for it."""
    if SEARCH_CONTENT not in include or step["type"] != "tool_calls":
        return step
    for call in step["step_details"]["tool_calls"]:
        if call["type"] == "file_search":
            for result in call["file_search"].get("results", []):
                result["content"] = result.get("_content", [])
    return step


def dump_step(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """A step as its events carry it, with what the run's creator asked to include."""
    return STEP.dump(_included(step, include))


def list_steps(project_id: str, thread_id: str, run_id: str, query: PageQuery,
               include: list[str]) -> Page:
    with reading() as conn:
        scope = _scope(conn, project_id, thread_id)
        repository.get(conn, RUNS, scope, run_id, "run_id")
        page = repository.page(conn, STEPS, {"project_id": project_id, "run_id": run_id},
                               query)
    for step in page.data:
        _included(step, include)
    return page


def get_step(project_id: str, thread_id: str, run_id: str, step_id: str,
             include: list[str]) -> dict[str, Any]:
    with reading() as conn:
        scope = _scope(conn, project_id, thread_id)
        repository.get(conn, RUNS, scope, run_id, "run_id")
        step = repository.get(conn, STEPS, {"project_id": project_id, "run_id": run_id},
                              step_id, "step_id")
    return _included(step, include)
