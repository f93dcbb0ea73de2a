"""The SQL of runs, their steps and the messages they write, beyond the generic table SQL."""
from functools import cache
from typing import Any

from psycopg import sql

from shared.clock import now
from shared.runs import states
from shared.storage.db import Conn, Statement
from shared.storage.repository import bind

# True only in the transaction that moved run %s: a row's xmin is the transaction that last
# wrote it. What a run's terminal move closes or settles is written under it, so a move that
# loses its compare-and-set, with the statements after it sent in the same round trip,
# changes nothing (`shared/runs/lifecycle.end`).
_RUN_MOVED = sql.SQL(
    "EXISTS (SELECT 1 FROM runs WHERE id = %s AND xmin = pg_current_xact_id()::xid)")


def movement(table: str, object_id: str, target: str, changes: dict[str, Any] | None = None,
             stamp: bool = True, with_run: str | None = None) -> Statement:
    """The compare-and-set UPDATE to `target`, returning the row if it moved; `with_run`:
    only if that run moved in the same transaction, before."""
    allowed = states.sources(table, target)
    changes = dict(changes or {})
    column = states.STAMPS[table].get(target)
    if stamp and column and column not in changes:
        changes[column] = now()
    if table == "runs" and target in states.TERMINAL:
        changes.setdefault("expires_at", None)
        changes.setdefault("required_action", None)
    changes["status"] = target
    params = [bind(k, v) for k, v in changes.items()] + [object_id, allowed]
    statement = _movement_sql(table, tuple(changes), with_run is not None)
    return statement, params if with_run is None else [*params, with_run]


@cache
def _movement_sql(table: str, changed: tuple[str, ...], with_run: bool) -> str:
    """Composed once per table, columns and guard (see `shared.storage.repository`)."""
    return sql.SQL("UPDATE {} SET {} WHERE id = %s AND status = ANY(%s){} RETURNING *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changed),
        sql.SQL(" AND {}").format(_RUN_MOVED) if with_run else sql.SQL(""),
    ).as_string()


def move(conn: Conn, table: str, object_id: str, target: str,
         changes: dict[str, Any] | None = None, stamp: bool = True) -> dict[str, Any] | None:
    """Set `target` if the current status may move there (compare-and-set); the updated
    row, or None if another writer moved it first."""
    return conn.execute(*movement(table, object_id, target, changes, stamp)).fetchone()


def queued_start(run_id: str) -> Statement:
    """queued -> in_progress in one statement (the commonest start: a new run), returning
    the run; no row when the run is not queued."""
    return ("UPDATE runs SET status = 'in_progress', attempts = attempts + 1, started_at = %s "
            "WHERE id = %s AND status = 'queued' RETURNING *", (now(), run_id))


def settlement(run_id: str, run_status: str) -> list[Statement]:
    """When a run ends early, its open steps and messages end with it: the statements, to
    run after the run's move in the same transaction (they write only then)."""
    ending = states.child_ending(run_status)
    if ending is None:
        return []
    column = states.STAMPS["run_steps"][ending.step_status]
    return [
        (sql.SQL("UPDATE run_steps SET status = %s, {} = %s "
                 "WHERE run_id = %s AND status = 'in_progress' AND {}").format(
                     sql.Identifier(column), _RUN_MOVED),
         (ending.step_status, now(), run_id, run_id)),
        (sql.SQL("UPDATE messages SET status = 'incomplete', incomplete_at = %s, "
                 "incomplete_details = %s WHERE run_id = %s AND status = 'in_progress' "
                 "AND {}").format(_RUN_MOVED),
         (now(), bind("incomplete_details", {"reason": ending.message_reason}), run_id,
          run_id)),
    ]


def settle_children(conn: Conn, run_id: str, run_status: str) -> None:
    for statement in settlement(run_id, run_status):
        conn.execute(*statement)


def interrupted(conn: Conn, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages and steps an interrupted execution left in progress, each in order. An
    open message has its open step (they open and end together), found by the steps' index."""
    steps = conn.execute("SELECT * FROM run_steps WHERE run_id = %s "
                         "AND status = 'in_progress' ORDER BY seq", (run_id,)).fetchall()
    ids = [s["step_details"]["message_creation"]["message_id"] for s in steps
           if s["type"] == "message_creation"]
    if not ids:
        return [], steps
    messages = conn.execute("SELECT * FROM messages WHERE id = ANY(%s) "
                            "AND status = 'in_progress' ORDER BY seq", (ids,)).fetchall()
    return messages, steps


def find(conn: Conn, run_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()


def thread_and_status(conn: Conn, run_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT status, thread_id FROM runs WHERE id = %s",
                        (run_id,)).fetchone()


def active_run_id(conn: Conn, thread_id: str) -> str | None:
    row = conn.execute(
        "SELECT id FROM runs WHERE thread_id = %s AND status = ANY(%s)",
        (thread_id, list(states.ACTIVE)),
    ).fetchone()
    return str(row["id"]) if row else None


def open_tool_step(conn: Conn, run_id: str) -> dict[str, Any] | None:
    """The tool_calls step a run parked in requires_action waits on."""
    return conn.execute(
        "SELECT * FROM run_steps WHERE run_id = %s AND type = 'tool_calls' "
        "AND status = 'in_progress' ORDER BY seq DESC LIMIT 1", (run_id,)
    ).fetchone()


def deadlines(conn: Conn) -> list[dict[str, Any]]:
    """Every run waiting in requires_action, with the time it expires."""
    return conn.execute(
        "SELECT id, expires_at FROM runs WHERE status = 'requires_action'"
    ).fetchall()


def expiry_of(conn: Conn, run_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT expires_at FROM runs WHERE id = %s", (run_id,)).fetchone()


def executable(conn: Conn) -> list[dict[str, Any]]:
    """Runs a worker should be executing, for recovery to check against their leases."""
    return conn.execute(
        "SELECT id, thread_id, status, created_at FROM runs WHERE status = ANY(%s)",
        (list(states.EXECUTABLE),),
    ).fetchall()


def steps_in_order(conn: Conn, run_id: str) -> list[dict[str, Any]]:
    """Type, status and step_details of each of the run's steps, in order."""
    return conn.execute(
        "SELECT type, status, step_details FROM run_steps WHERE run_id = %s ORDER BY seq",
        (run_id,),
    ).fetchall()


def tool_calls(conn: Conn, run_id: str) -> list[dict[str, Any]]:
    """Every call of the run's tool_calls steps, in order, whatever their status."""
    rows = conn.execute(
        "SELECT step_details FROM run_steps WHERE run_id = %s AND type = 'tool_calls' "
        "ORDER BY seq", (run_id,)).fetchall()
    return [call for row in rows for call in row["step_details"]["tool_calls"]]


def completed_file_searches(conn: Conn, run_id: str) -> int:
    """How many file_search calls the run's completed tool_calls steps hold."""
    row = conn.execute(
        "SELECT count(*) AS n FROM run_steps, jsonb_array_elements(step_details->'tool_calls') "
        "AS call WHERE run_id = %s AND type = 'tool_calls' AND status = 'completed' "
        "AND call->>'type' = 'file_search'", (run_id,)).fetchone()
    return int(row["n"]) if row else 0


def count_by_status(conn: Conn) -> dict[str, int]:
    rows = conn.execute("SELECT status, count(*) AS n FROM runs GROUP BY status").fetchall()
    return {r["status"]: int(r["n"]) for r in rows}


def count_project_by_status(conn: Conn, project_id: str) -> dict[str, int]:
    """One project's runs by status (statuses it has no run in are left out)."""
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM runs WHERE project_id = %s GROUP BY status",
        (project_id,)).fetchall()
    return {r["status"]: int(r["n"]) for r in rows}
