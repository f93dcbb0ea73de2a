"""The run, step and message state machines: every legal and every illegal move.

The legal moves are written out here from the spec's lifecycle, not read back from the
table under test, so a change to the table shows up as a failure."""
import itertools

import pytest

from shared.runs import states

RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling", "completed",
                "incomplete", "failed", "cancelled", "expired")
LEGAL_RUN_MOVES = {
    ("queued", "in_progress"), ("queued", "cancelling"), ("queued", "cancelled"),
    ("queued", "failed"), ("queued", "expired"),
    ("in_progress", "in_progress"),  # a new execution takes over an interrupted one
    ("in_progress", "requires_action"), ("in_progress", "completed"),
    ("in_progress", "incomplete"), ("in_progress", "failed"), ("in_progress", "cancelling"),
    ("in_progress", "cancelled"), ("in_progress", "expired"),
    ("requires_action", "queued"), ("requires_action", "cancelled"),
    ("requires_action", "expired"), ("requires_action", "failed"),
    ("cancelling", "cancelled"), ("cancelling", "completed"), ("cancelling", "incomplete"),
    ("cancelling", "failed"), ("cancelling", "expired"),
}
CHILD_STATUSES = ("in_progress", "completed", "failed", "cancelled", "expired", "incomplete")
LEGAL_STEP_MOVES = {("in_progress", s) for s in ("completed", "failed", "cancelled", "expired")}
LEGAL_MESSAGE_MOVES = {("in_progress", "completed"), ("in_progress", "incomplete")}


@pytest.mark.parametrize(("source", "target"),
                         list(itertools.product(RUN_STATUSES, RUN_STATUSES)))
def test_run_moves(source: str, target: str) -> None:
    assert states.may_move("runs", source, target) == ((source, target) in LEGAL_RUN_MOVES)


@pytest.mark.parametrize(("source", "target"),
                         list(itertools.product(CHILD_STATUSES, CHILD_STATUSES)))
def test_step_and_message_moves(source: str, target: str) -> None:
    assert states.may_move("run_steps", source, target) == (
        (source, target) in LEGAL_STEP_MOVES)
    assert states.may_move("messages", source, target) == (
        (source, target) in LEGAL_MESSAGE_MOVES)


@pytest.mark.parametrize("target", RUN_STATUSES)
def test_sources_are_what_may_move_there(target: str) -> None:
    expected = sorted(s for s, t in LEGAL_RUN_MOVES if t == target)
    if not expected:
        with pytest.raises(states.IllegalMoveError):
            states.sources("runs", target)
    else:
        assert sorted(states.sources("runs", target)) == expected


def test_no_status_moves_out_of_a_terminal_one() -> None:
    for terminal in states.TERMINAL:
        assert not any(states.may_move("runs", terminal, t) for t in RUN_STATUSES)


def test_the_statuses_sets() -> None:
    assert set(states.ACTIVE) | set(states.TERMINAL) == set(RUN_STATUSES)
    assert not set(states.ACTIVE) & set(states.TERMINAL)
    # A worker never takes up a run that waits on its client.
    assert set(states.EXECUTABLE) == set(states.ACTIVE) - {"requires_action"}


@pytest.mark.parametrize(("run_status", "step_status", "reason"), [
    ("cancelled", "cancelled", "run_cancelled"),
    ("expired", "expired", "run_expired"),
    ("failed", "failed", "run_failed"),
    ("incomplete", "cancelled", "max_tokens"),
])
def test_what_a_run_ending_early_leaves_its_children(run_status: str, step_status: str,
                                                    reason: str) -> None:
    ending = states.child_ending(run_status)
    assert ending == states.ChildEnding(step_status, reason)
    assert states.may_move("run_steps", "in_progress", ending.step_status)


@pytest.mark.parametrize("status", ["completed", "queued", "in_progress", "requires_action"])
def test_a_run_that_does_not_end_early_leaves_nothing_to_settle(status: str) -> None:
    assert states.child_ending(status) is None
