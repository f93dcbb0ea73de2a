"""The state machine of runs, their steps and the messages they write: pure rules, no I/O.

`shared/runs/repository.move` applies a move as a compare-and-set (the UPDATE names the
statuses it may leave, so of two racing writers only one wins); `shared/runs/lifecycle`
is the one place that asks for run moves.
"""
from dataclasses import dataclass

from shared.errors import IllegalMoveError

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
# The statuses a runs worker takes a run in: new, interrupted (its worker died or handed
# it back), or cancelled while a worker held it.
EXECUTABLE = ("queued", "in_progress", "cancelling")

RUN_MOVES: dict[str, tuple[str, ...]] = {
    "queued": ("in_progress", "cancelling", "cancelled", "failed", "expired"),
    # in_progress -> in_progress: a new execution takes over an interrupted one.
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
MOVES = {"runs": RUN_MOVES, "run_steps": STEP_MOVES, "messages": MESSAGE_MOVES}

# The timestamp column each status stamps.
STAMPS = {
    "runs": {"in_progress": "started_at", "completed": "completed_at", "incomplete":
             "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"},
    "run_steps": {"completed": "completed_at", "failed": "failed_at",
                  "cancelled": "cancelled_at", "expired": "expired_at"},
    "messages": {"completed": "completed_at", "incomplete": "incomplete_at"},
}


def sources(table: str, target: str) -> list[str]:
    """The statuses of `table` that may move to `target`; raises if none may."""
    allowed = [src for src, targets in MOVES[table].items() if target in targets]
    if not allowed:
        raise IllegalMoveError(f"no status of {table} may move to {target}")
    return allowed


def may_move(table: str, source: str, target: str) -> bool:
    return target in MOVES[table].get(source, ())


@dataclass(frozen=True)
class ChildEnding:
    """How a run's open steps and messages end when the run ends early."""
    step_status: str
    message_reason: str


_CHILD_ENDINGS = {
    "cancelled": ChildEnding("cancelled", "run_cancelled"),
    "expired": ChildEnding("expired", "run_expired"),
    "failed": ChildEnding("failed", "run_failed"),
    "incomplete": ChildEnding("cancelled", "max_tokens"),
}


def child_ending(run_status: str) -> ChildEnding | None:
    """None for a run that ends with nothing left open (completed) or does not end."""
    return _CHILD_ENDINGS.get(run_status)
