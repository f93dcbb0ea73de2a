"""The one state machine for runs, steps and run-made messages.

Every change of status is a compare-and-set in Postgres: the UPDATE names the statuses it
may leave, so two racing writers (a cancel and a completion, say) cannot both win.
"""
from typing import Any

from psycopg import sql

from shared.clock import now
from shared.storage.db import Conn
from shared.storage.repository import bind

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")

RUN_MOVES: dict[str, tuple[str, ...]] = {
    "queued": ("in_progress", "cancelling", "cancelled", "failed", "expired"),
    "in_progress": ("requires_action", "completed", "incomplete", "failed", "cancelling",
                    "cancelled", "expired", "in_progress"),
    "requires_action": ("queued", "cancelled", "expired", "failed"),
    "cancelling": ("cancelled", "completed", "incomplete", "failed", "expired"),
}
STEP_MOVES: dict[str, tuple[str, ...]] = {
    "in_progress": ("completed", "failed", "cancelled", "expired"),
}
MESSAGE_MOVES: dict[str, tuple[str, ...]] = {
    "in_progress": ("completed", "incomplete"),
}

# The timestamp column each terminal status stamps.
_STAMPS = {
    "runs": {"in_progress": "started_at", "completed": "completed_at", "incomplete":
             "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"},
    "run_steps": {"completed": "completed_at", "failed": "failed_at",
                  "cancelled": "cancelled_at", "expired": "expired_at"},
    "messages": {"completed": "completed_at", "incomplete": "incomplete_at"},
}
_MOVES = {"runs": RUN_MOVES, "run_steps": STEP_MOVES, "messages": MESSAGE_MOVES}


class IllegalMoveError(Exception):
    """A move the state machine never allows, whatever the current status."""


def sources(table: str, target: str) -> list[str]:
    return [src for src, targets in _MOVES[table].items() if target in targets]


def move(conn: Conn, table: str, object_id: str, target: str,
         changes: dict[str, Any] | None = None, stamp: bool = True) -> dict[str, Any] | None:
    """Set `target` if the current status may move there; the updated row, or None if not."""
    allowed = sources(table, target)
    if not allowed:
        raise IllegalMoveError(f"no status of {table} may move to {target}")
    changes = dict(changes or {})
    column = _STAMPS[table].get(target)
    if stamp and column and column not in changes:
        changes[column] = now()
    if table == "runs" and target in TERMINAL:
        changes.setdefault("expires_at", None)
        changes.setdefault("required_action", None)
    changes["status"] = target
    statement = sql.SQL("UPDATE {} SET {} WHERE id = %s AND status = ANY(%s) RETURNING *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
    )
    params = [bind(k, v) for k, v in changes.items()] + [object_id, allowed]
    return conn.execute(statement, params).fetchone()


def settle_run_children(conn: Conn, run_id: str, run_status: str) -> None:
    """When a run ends early, its open steps and messages end with it."""
    step_status = {"cancelled": "cancelled", "expired": "expired", "failed": "failed",
                   "incomplete": "cancelled"}.get(run_status)
    if step_status is None:
        return
    column = _STAMPS["run_steps"][step_status]
    conn.execute(
        sql.SQL("UPDATE run_steps SET status = %s, {} = %s "
                "WHERE run_id = %s AND status = 'in_progress'").format(sql.Identifier(column)),
        (step_status, now(), run_id),
    )
    reason = {"cancelled": "run_cancelled", "expired": "run_expired", "failed": "run_failed",
              "incomplete": "max_tokens"}[run_status]
    conn.execute(
        "UPDATE messages SET status = 'incomplete', incomplete_at = %s, "
        "incomplete_details = %s WHERE run_id = %s AND status = 'in_progress'",
        (now(), bind("incomplete_details", {"reason": reason}), run_id),
    )


