"""Turns (shared/platform/turns.py) with OS threads: at most `size` holders, each turn given
back once, stepping aside frees it."""
import threading
from contextvars import copy_context

from shared.platform.turns import Turns, step_aside


def _holder(turns: Turns, taken: threading.Event, release: threading.Event,
            aside: bool) -> threading.Thread:
    def hold() -> None:
        turns.take()
        taken.set()
        release.wait(30)
        if aside:
            step_aside()
        turns.give_back()
        turns.give_back()  # a second give-back frees nothing more

    thread = threading.Thread(target=copy_context().run, args=(hold,), daemon=True)
    thread.start()
    return thread


def test_at_most_size_hold_a_turn_and_stepping_aside_frees_one() -> None:
    turns = Turns(2)
    taken = [threading.Event() for _ in range(3)]
    release = [threading.Event() for _ in range(3)]
    holders = [_holder(turns, taken[n], release[n], aside=n == 0) for n in range(2)]
    assert taken[0].wait(10) and taken[1].wait(10)
    third = _holder(turns, taken[2], release[2], aside=False)
    assert not taken[2].wait(0.3)
    release[0].set()  # steps aside, then gives back: one turn freed, not two
    assert taken[2].wait(10)
    fourth_taken, fourth_release = threading.Event(), threading.Event()
    fourth = _holder(turns, fourth_taken, fourth_release, aside=False)
    assert not fourth_taken.wait(0.3)
    release[1].set()
    assert fourth_taken.wait(10)
    release[2].set()
    fourth_release.set()
    for thread in (*holders, third, fourth):
        thread.join(10)
        assert not thread.is_alive()


def test_stepping_aside_without_a_turn_does_nothing() -> None:
    step_aside()
    turns = Turns(1)
    turns.give_back()
    turns.take()
    turns.give_back()
    turns.take()  # the one turn is free again
    turns.give_back()
