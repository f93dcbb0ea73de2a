"""The state machine of vector store files and file batches (`shared.vector_stores.states`):
every move, legal or not, and the status a batch reads as."""
import itertools

import pytest

from shared.vector_stores import states
from shared.vector_stores.states import IllegalMoveError, Kind

STATUSES = ("in_progress", "completed", "failed", "cancelled")
LEGAL: dict[Kind, set[tuple[str, str]]] = {
    "file": {
        ("in_progress", "in_progress"), ("in_progress", "completed"),
        ("in_progress", "failed"), ("in_progress", "cancelled"),
        ("completed", "in_progress"), ("failed", "in_progress"), ("cancelled", "in_progress"),
    },
    "batch": {
        ("in_progress", "completed"), ("in_progress", "failed"), ("in_progress", "cancelled"),
        ("completed", "failed"), ("completed", "cancelled"),
        ("failed", "completed"), ("failed", "cancelled"),
    },
}
MOVES = [(kind, source, target) for kind in LEGAL
         for source, target in itertools.product(STATUSES, STATUSES)]


@pytest.mark.parametrize(("kind", "source", "target"), MOVES)
def test_may_move(kind: Kind, source: str, target: str) -> None:
    assert states.may_move(kind, source, target) == ((source, target) in LEGAL[kind])


@pytest.mark.parametrize(("kind", "target"), itertools.product(LEGAL, STATUSES))
def test_sources(kind: Kind, target: str) -> None:
    expected = [source for source in STATUSES if (source, target) in LEGAL[kind]]
    if expected:
        assert states.sources(kind, target) == expected
    else:
        with pytest.raises(IllegalMoveError):
            states.sources(kind, target)


def test_an_unknown_status_never_moves() -> None:
    assert not states.may_move("file", "expired", "in_progress")
    with pytest.raises(IllegalMoveError):
        states.sources("file", "expired")


def test_only_adding_again_moves_a_completed_file() -> None:
    # New attributes are written in place: a completed file moves only when added again,
    # and a batch once settled never goes back to in_progress.
    assert states.sources("file", "in_progress") == list(STATUSES)
    assert not states.may_move("batch", "completed", "in_progress")
    assert not states.may_move("batch", "failed", "in_progress")


def test_a_batch_not_cancelled_may_be_cancelled() -> None:
    # lifecycle.cancel_batch sets the batch's cancel flag wherever it is not set yet.
    assert states.sources("batch", "cancelled") == [s for s in STATUSES if s != "cancelled"]


def test_every_file_status_is_counted() -> None:
    assert states.FILE_STATUSES == STATUSES


def _counts(**given: int) -> dict[str, int]:
    counts = {status: given.get(status, 0) for status in STATUSES}
    return {**counts, "total": sum(counts.values())}


@pytest.mark.parametrize(("cancelled", "counts", "status"), [
    (False, _counts(), "completed"),
    (False, _counts(in_progress=1, completed=3), "in_progress"),
    (False, _counts(in_progress=1, failed=2), "in_progress"),
    (False, _counts(completed=2, failed=1), "completed"),
    (False, _counts(completed=1, cancelled=1), "completed"),
    (False, _counts(failed=3), "failed"),
    (True, _counts(in_progress=2), "cancelled"),
    (True, _counts(completed=2), "cancelled"),
    (True, _counts(), "cancelled"),
])
def test_batch_status(cancelled: bool, counts: dict[str, int], status: str) -> None:
    assert states.batch_status(cancelled, counts) == status
