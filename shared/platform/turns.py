"""Turns: how many requests one API process works on at once, so a burst of writes cannot
starve its reads.

Under gevent a request's CPU runs in slices between its waits on storage, and every ready
request gets its slice before any gets its next one: a GET arriving among thirty creates
waits for thirty slices at each of its few steps (measured: p99 441 ms while 64 clients
created runs, 54 ms once they stopped). A write takes a turn before its work and gives it
back when its answer is ready; at most `size` writes hold one at once, the others wait for
theirs (a blocked greenlet costs no CPU), and reads take none. A turn covers work, not
waiting on another process: whoever waits for a worker's answer or a run's events steps
aside first (`step_aside`), so a slow model or search never holds turns from other writes.
"""
import threading
from contextvars import ContextVar

# The turn the current request (greenlet) holds, if any.
_held: ContextVar["Turns | None"] = ContextVar("treadle_turn", default=None)


class Turns:
    def __init__(self, size: int):
        self._slots = threading.BoundedSemaphore(size)

    def take(self) -> None:
        """Wait for a turn; the current request holds it until `give_back`."""
        self._slots.acquire()
        _held.set(self)

    def give_back(self) -> None:
        """The current request's turn back, if it still holds one (idempotent)."""
        if _held.get() is self:
            _held.set(None)
            self._slots.release()


def step_aside() -> None:
    """Before a wait on another process: give back the current request's turn, if any (the
    runs worker and every read hold none, so this is free there)."""
    turns = _held.get()
    if turns is not None:
        turns.give_back()
