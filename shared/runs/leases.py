"""The lease a worker holds on a thread while it executes one of its runs.

A redis-py Lock with a token and a TTL, renewed by a heartbeat thread. If the worker dies,
the lease lapses within `run_lease_seconds` and the timers pool hands the run to another.
Key: `redis_keys.thread_lease`.
"""
import contextlib
import threading
from types import TracebackType

from redis.exceptions import LockError
from redis.lock import Lock

from shared.config import get_settings
from shared.storage import redis_keys
from shared.storage.redis import get_redis


def is_held(thread_id: str) -> bool:
    return bool(get_redis().exists(redis_keys.thread_lease(thread_id)))


class ThreadLease:
    def __init__(self, thread_id: str):
        self.seconds = get_settings().run_lease_seconds
        self.lock = Lock(get_redis(), redis_keys.thread_lease(thread_id), timeout=self.seconds,
                         blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew, daemon=True)
        self.lost = False

    def acquire(self) -> bool:
        if not self.lock.acquire():
            return False
        self._heartbeat.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.lock.reacquire()
            except LockError:
                self.lost = True
                return

    def release(self) -> None:
        self._stop.set()
        # Already lapsed or taken over: nothing of ours to release.
        with contextlib.suppress(LockError):
            self.lock.release()

    def __enter__(self) -> "ThreadLease":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
