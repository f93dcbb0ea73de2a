"""The lease a worker holds on a thread while it executes one of its runs.

A redis-py Lock with a token and a TTL, renewed by a heartbeat thread. If the worker dies,
the lease lapses within `run_lease_seconds` and the timers pool hands the run to another.
Key: `redis_keys.thread_lease`.

Redis may restart, with its data or without. The holder counts its lease good until a
lease period after the last renewal Redis confirmed, and takes back a lease Redis forgot
(unless another worker took it first). A takeover, executing a run another execution left
in progress, waits until Redis has been up for a lease period, so a missing lease means a
holder that is gone rather than one that has not yet taken it back.
"""
import contextlib
import threading
import time
from types import TracebackType

from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from shared.config import get_settings
from shared.storage import redis_keys
from shared.storage.redis import UNAVAILABLE, get_redis, uptime_seconds


def is_held(thread_id: str) -> bool:
    return bool(get_redis().exists(redis_keys.thread_lease(thread_id)))


class ThreadLease:
    def __init__(self, thread_id: str):
        self.seconds = get_settings().run_lease_seconds
        self.lock = Lock(get_redis(), redis_keys.thread_lease(thread_id), timeout=self.seconds,
                         blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew, daemon=True)
        self._lost = False
        self._confirmed = 0.0

    @property
    def lost(self) -> bool:
        """Taken over or lapsed: another worker may execute the run now."""
        return self._lost or time.monotonic() - self._confirmed >= self.seconds

    def acquire(self, takeover: bool = False) -> bool:
        """Take the lease; `takeover`: the run was left in progress by another execution."""
        if takeover and uptime_seconds() < self.seconds:
            return False
        if not self.lock.acquire():
            return False
        self._confirmed = time.monotonic()
        self._heartbeat.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            began = time.monotonic()
            try:
                self._extend()
            except LockError:
                self._lost = True
                return
            except UNAVAILABLE:
                # Redis is away for longer than its client waits; try again next beat.
                continue
            self._confirmed = began

    def _extend(self) -> None:
        try:
            self.lock.reacquire()
        except LockNotOwnedError:
            # Redis restarted without the key: take it back, unless another worker has it
            # or our hold lapsed meanwhile.
            token = self.lock.local.token
            if self.lost or token is None or not get_redis().set(
                    self.lock.name, token, nx=True, px=int(self.seconds * 1000)):
                raise

    def release(self) -> None:
        self._stop.set()
        # Already lapsed, taken over, or Redis away (then it lapses by itself): nothing of
        # ours to release.
        with contextlib.suppress(LockError, *UNAVAILABLE):
            self.lock.release()

    def __enter__(self) -> "ThreadLease":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
