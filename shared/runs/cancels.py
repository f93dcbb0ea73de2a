"""Which of the runs this process executes were asked to cancel.

A cancel sets the run's flag in Redis (`redis_keys.run_cancel`, by `lifecycle`). A run
reading its model stream looks for it between chunks; rather than a look of its own every
few chunks (a round trip each: thousands of runs streaming at once made tens of thousands a
second), one loop per process (`_Watch`, a thread, or a greenlet in a runs worker under
gevent) reads the flags of every run it executes in one MGET every `POLL_SECONDS`, and each
run reads the answer from memory. A poll that fails (Redis away) leaves the answers as they
were and is tried again next period: Redis away fails no run here; its lease decides.
"""
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shared.storage import redis_keys
from shared.storage.redis import UNAVAILABLE, get_redis

log = logging.getLogger(__name__)

# How stale a run's answer may be: the longest a cancel waits to be seen while chunks come.
POLL_SECONDS = 0.05


class _Watch:
    def __init__(self) -> None:
        # Run id -> whether its flag was set at the last poll.
        self._flags: dict[str, bool] = {}
        self._guard = threading.Lock()
        # Set as a run comes in, so a loop idle for want of runs starts polling.
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None

    def add(self, run_id: str) -> None:
        with self._guard:
            self._flags[run_id] = False
            self._wake.set()
            if self._loop is None:
                self._loop = threading.Thread(target=self._run, name="cancel-watch",
                                              daemon=True)
                self._loop.start()

    def discard(self, run_id: str) -> None:
        with self._guard:
            self._flags.pop(run_id, None)

    def requested(self, run_id: str) -> bool:
        return self._flags.get(run_id, False)

    def _run(self) -> None:
        while True:
            with self._guard:
                run_ids = list(self._flags)
                self._wake.clear()
            if not run_ids:
                self._wake.wait()
                continue
            time.sleep(POLL_SECONDS)
            try:
                self._poll()
            except Exception:
                # The loop must outlive anything; the answers stay as they were meanwhile.
                log.exception("reading the cancel flags failed")

    def _poll(self) -> None:
        with self._guard:
            run_ids = list(self._flags)
        if not run_ids:
            return
        try:
            flags = get_redis().mget([redis_keys.run_cancel(run_id) for run_id in run_ids])
        except UNAVAILABLE:
            return
        with self._guard:
            for run_id, flag in zip(run_ids, flags, strict=True):
                if run_id in self._flags:
                    self._flags[run_id] = flag is not None


_watches: dict[int, _Watch] = {}
_watches_guard = threading.Lock()


def _watch() -> _Watch:
    """This process's watch, made on first use (after a fork, the child makes its own)."""
    with _watches_guard:
        pid = os.getpid()
        if pid not in _watches:
            _watches[pid] = _Watch()
        return _watches[pid]


@contextmanager
def watching(run_id: str) -> Iterator[None]:
    """The run's flag is read with the others while the block runs (`requested`)."""
    watch = _watch()
    watch.add(run_id)
    try:
        yield
    finally:
        watch.discard(run_id)


def requested(run_id: str) -> bool:
    """Whether the run's flag was set at the last poll (at most `POLL_SECONDS` ago); False
    for a run not being watched."""
    return _watch().requested(run_id)


def requested_now(run_id: str) -> bool:
    """Whether the run's flag is set, read now: one round trip."""
    return bool(get_redis().exists(redis_keys.run_cancel(run_id)))
