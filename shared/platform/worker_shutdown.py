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
import threading
from typing import Any

_handing_back = threading.Event()


def handing_back() -> bool:
    return _handing_back.is_set()


def install_worker_hooks(grace_seconds: float) -> None:
    """In a Celery worker: start handing back `grace_seconds` after a shutdown begins."""
    from celery.signals import worker_shutting_down

    def on_shutting_down(**_: Any) -> None:
        timer = threading.Timer(grace_seconds, _handing_back.set)
        timer.daemon = True
        timer.start()

    worker_shutting_down.connect(on_shutting_down, weak=False)
