"""How a runs worker told to stop (SIGTERM: `docker stop`, Ctrl-C, `treadle up` ending) hands
its runs back instead of holding the stop up or losing them.

Celery's warm shutdown stops taking tasks and waits for the running ones; a run may stream
for minutes, longer than any orchestrator waits before SIGKILL. So runs get a grace period
to end by themselves, then `handing_back()` turns true and the engine, which asks between
model chunks, stops the model call, releases the thread's lease and requeues the run for
another worker, which repeats only that call (as after a crash, without waiting for the
lease to lapse). The message stays unacknowledged until the task returns (acks_late), so
even a SIGKILL during all this loses nothing.
"""
import time
from typing import Any

# When handing back begins (monotonic seconds); None until a shutdown starts.
_hand_back_at: float | None = None


def stopping() -> bool:
    """A shutdown began: the worker starts no more runs. Under gevent, Celery's consumer
    may still hand it tasks for a second or two; their runs go back to the queue at once."""
    return _hand_back_at is not None


def handing_back() -> bool:
    return _hand_back_at is not None and time.monotonic() >= _hand_back_at


def install_worker_hooks(grace_seconds: float) -> None:
    """In a Celery worker: start handing back `grace_seconds` after a shutdown begins.

    Only a deadline is noted: the signal arrives in a signal handler (under gevent, in the
    event loop's callback), where nothing may block, so no timer is started there."""
    from celery.signals import worker_shutting_down

    def on_shutting_down(**_: Any) -> None:
        global _hand_back_at
        if _hand_back_at is None:
            _hand_back_at = time.monotonic() + grace_seconds

    worker_shutting_down.connect(on_shutting_down, weak=False)
