"""The state machine of vector store files and file batches: pure rules, no I/O.

`shared/vector_stores/lifecycle` is the one place that moves a file or a batch, each move a
compare-and-set naming the statuses it may leave (`sources`), so of two racing writers (an
ingest finishing and a batch cancel, a stale ingest task and a resubmission) only one wins.

A batch stores no status, only whether it was cancelled: its status is read from its
files' (`batch_status`), so it moves when they do, and by a cancel.
"""
from collections.abc import Mapping
from typing import Literal

from shared.errors import IllegalMoveError

Kind = Literal["file", "batch"]

FILE_MOVES: dict[str, tuple[str, ...]] = {
    # in_progress -> in_progress: added again while being indexed, on a new generation.
    "in_progress": ("in_progress", "completed", "failed", "cancelled"),
    # completed -> in_progress: added again. New attributes are no move: they are written
    # to the chunks in place while the file stays completed (`files.apply_attributes`).
    "completed": ("in_progress",),
    "failed": ("in_progress",),
    "cancelled": ("in_progress",),
}
BATCH_MOVES: dict[str, tuple[str, ...]] = {
    "in_progress": ("completed", "failed", "cancelled"),
    # -> failed: its completed files removed (or added again elsewhere), leaving failed
    # ones. Never back to in_progress: a file added again leaves the batch, and new
    # attributes move no file.
    "completed": ("failed", "cancelled"),
    # -> completed: its files all removed or added again elsewhere (an empty batch reads
    # completed). A failed file can only be indexed again in another batch (or none).
    "failed": ("completed", "cancelled"),
    # A cancel is final, whatever its files do after.
    "cancelled": (),
}
MOVES: dict[Kind, dict[str, tuple[str, ...]]] = {"file": FILE_MOVES, "batch": BATCH_MOVES}

FILE_STATUSES = tuple(FILE_MOVES)


def may_move(kind: Kind, source: str, target: str) -> bool:
    return target in MOVES[kind].get(source, ())


def sources(kind: Kind, target: str) -> list[str]:
    """The statuses of `kind` that may move to `target`; raises if none may."""
    allowed = [source for source, targets in MOVES[kind].items() if target in targets]
    if not allowed:
        raise IllegalMoveError(f"no {kind} status may move to {target}")
    return allowed


def batch_status(cancelled: bool, counts: Mapping[str, int]) -> str:
    """A batch's status, from its cancel and how many of its files are in each status: in
    progress while any file is, failed when every file failed, completed otherwise."""
    if cancelled:
        return "cancelled"
    if counts["in_progress"]:
        return "in_progress"
    if counts["total"] and counts["failed"] == counts["total"]:
        return "failed"
    return "completed"
