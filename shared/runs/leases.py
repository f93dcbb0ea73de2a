"""The lease a worker holds on a thread while it executes one of its runs.

A redis-py Lock with a token and a TTL. Every lease a process holds is renewed by one loop
of that process (`_Renewer`, a thread, or a greenlet in a runs worker under gevent): each
period it extends all of them in one pipelined round trip, so thousands of runs in flight
cost one Redis command batch every few seconds, not a thread and a round trip each. If the
worker dies, the lease lapses within `run_lease_seconds` and the timers pool hands the run
to another. Key: `redis_keys.thread_lease`.

Redis may restart, with its data or without. The holder counts its lease good until a
lease period after the last renewal Redis confirmed, and takes back a lease Redis forgot
(unless another worker took it first). A takeover, executing a run another execution left
in progress, waits until Redis has been up for a lease period, so a missing lease means a
holder that is gone rather than one that has not yet taken it back.
"""
import contextlib
import logging
import os
import secrets
import threading
import time
from types import TracebackType

from redis.client import Pipeline
from redis.exceptions import LockError
from redis.lock import Lock

from shared.config import get_settings
from shared.storage import redis_keys
from shared.storage.redis import UNAVAILABLE, get_redis, uptime_seconds

log = logging.getLogger(__name__)

# Extends a lease still ours; takes back one Redis forgot when ARGV[3] allows (our hold has
# not lapsed); 0 when another holder has it or it is gone for good.
_RENEW = """
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    return 1
end
if not held and ARGV[3] == '1' then
    redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
    return 1
end
return 0
"""


class LeaseBusyError(Exception):
    """A run cannot start on this worker yet: another worker holds its thread's lease (the
    thread's previous stretch is still finishing), or the run was left in progress and
    Redis has not been up for a lease period (`may_take_over`). Its task is retried shortly."""


def is_held(thread_id: str) -> bool:
    return bool(get_redis().exists(redis_keys.thread_lease(thread_id)))


def may_take_over() -> bool:
    """Whether a run another execution left in progress may be taken over now: a missing
    lease means a holder that is gone only once Redis has been up for a lease period."""
    return uptime_seconds() >= get_settings().run_lease_seconds


class ThreadLease:
    def __init__(self, thread_id: str):
        self.seconds = get_settings().run_lease_seconds
        self.lock = Lock(get_redis(), redis_keys.thread_lease(thread_id), timeout=self.seconds,
                         blocking=False, thread_local=False)
        self._lost = False
        self._confirmed = 0.0

    @property
    def lost(self) -> bool:
        """Taken over or lapsed: another worker may execute the run now."""
        return self._lost or time.monotonic() - self._confirmed >= self.seconds

    def acquire(self) -> bool:
        """Take the lease; False when another holds it. Executing a run left in progress
        takes `may_take_over` as well (`shared.runs.lifecycle.start`)."""
        # A token of our own: redis-py's default, uuid1, asks a uuidd daemon over a socket
        # first, three system calls a run.
        if not self.lock.acquire(token=secrets.token_hex(16)):
            return False
        self._confirmed = time.monotonic()
        _renewer().hold(self)
        return True

    def renewed(self, began: float) -> None:
        """Redis confirmed the renewal sent at `began` (monotonic)."""
        self._confirmed = began

    def mark_lost(self) -> None:
        self._lost = True

    def release(self) -> None:
        _renewer().drop(self)
        # Already lapsed, taken over, or Redis away (then it lapses by itself): nothing of
        # ours to release.
        with contextlib.suppress(LockError, *UNAVAILABLE):
            self.lock.release()

    def release_on(self, pipe: Pipeline) -> None:
        """Queue the release on `pipe`, so it shares the round trip of the run's last
        writes (`shared/runs/lifecycle`); the release at the end of the `with` block is then
        a no-op. A pipe that fails leaves the lease to lapse, as a failed release does."""
        _renewer().drop(self)
        token, self.lock.local.token = self.lock.local.token, None
        if token is not None:
            # By EVAL: a script in a pipeline costs redis-py a check that it is loaded.
            pipe.eval(Lock.LUA_RELEASE_SCRIPT, 1, self.lock.name, token)

    def __enter__(self) -> "ThreadLease":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


class _Renewer:
    """This process's one loop renewing every lease it holds, a third of a lease period
    apart, in one pipelined round trip."""

    def __init__(self) -> None:
        self._held: set[ThreadLease] = set()
        self._guard = threading.Lock()
        # Set as a lease comes in, so a loop idle for want of leases starts renewing.
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None
        self._script = get_redis().register_script(_RENEW)

    def hold(self, lease: ThreadLease) -> None:
        with self._guard:
            self._held.add(lease)
            self._wake.set()
            if self._loop is None:
                self._loop = threading.Thread(target=self._run, name="lease-renewer",
                                              daemon=True)
                self._loop.start()

    def drop(self, lease: ThreadLease) -> None:
        with self._guard:
            self._held.discard(lease)

    def _run(self) -> None:
        while True:
            with self._guard:
                leases = list(self._held)
                self._wake.clear()
            if not leases:
                self._wake.wait()
                continue
            time.sleep(min(lease.seconds for lease in leases) / 3)
            with self._guard:
                # Those held now, the ones taken meanwhile included (each was confirmed when
                # taken, so at most a period ago).
                leases = list(self._held)
            try:
                self._renew(leases)
            except Exception:
                # The loop must outlive anything; its leases count as good until they lapse.
                log.exception("renewing %d thread leases failed", len(leases))

    def _renew(self, leases: list[ThreadLease]) -> None:
        began = time.monotonic()
        pipe = get_redis().pipeline(transaction=False)
        for lease in leases:
            self._script(keys=[lease.lock.name],
                         args=[lease.lock.local.token or b"", int(lease.seconds * 1000),
                               "0" if lease.lost else "1"],
                         client=pipe)
        try:
            answers = pipe.execute()
        except UNAVAILABLE:
            # Redis is away for longer than its client waits; try again next period.
            return
        for lease, renewed in zip(leases, answers, strict=True):
            if renewed:
                lease.renewed(began)
            else:
                lease.mark_lost()
                self.drop(lease)


_renewers: dict[int, _Renewer] = {}
_renewers_guard = threading.Lock()


def _renewer() -> _Renewer:
    """This process's renewer, made on first use (after a fork, the child makes its own)."""
    with _renewers_guard:
        pid = os.getpid()
        if pid not in _renewers:
            _renewers[pid] = _Renewer()
        return _renewers[pid]
