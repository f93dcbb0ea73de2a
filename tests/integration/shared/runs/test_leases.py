"""The thread lease (`shared.runs.leases`) over a real Redis: held, renewed, lost, released."""
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from redis import Redis
from redis.lock import Lock

from shared.config import get_settings
from shared.runs import leases as leases_module
from shared.runs.leases import ThreadLease, is_held
from shared.storage import redis_keys
from shared.storage.redis import get_redis

LEASE_SECONDS = 1
# Generous: a heartbeat every LEASE_SECONDS / 3 notices a loss well within this.
NOTICE_SECONDS = 5 * LEASE_SECONDS


@pytest.fixture
def redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    """A one-second lease, so renewal and loss show within a test's patience, renewed by a
    renewer of the test's own: the process's may be asleep for a third of the longer leases
    an earlier test held (a process's leases all have one length otherwise)."""
    monkeypatch.setattr(leases_module, "_renewers", {})
    monkeypatch.setenv("TREADLE_RUN_LEASE_SECONDS", str(LEASE_SECONDS))
    get_settings.cache_clear()
    assert get_settings().run_lease_seconds == LEASE_SECONDS
    yield get_redis()
    # Reread after monkeypatch restores the environment.
    get_settings.cache_clear()


@pytest.fixture
def thread_id() -> str:
    return f"thread_{uuid.uuid4().hex}"


@pytest.fixture
def leases() -> Iterator[list[ThreadLease]]:
    """Leases a test takes, released at its end so no heartbeat outlives it."""
    taken: list[ThreadLease] = []
    yield taken
    for lease in taken:
        lease.release()


def take(leases: list[ThreadLease], thread_id: str) -> ThreadLease:
    lease = ThreadLease(thread_id)
    leases.append(lease)
    return lease


def eventually(condition: Callable[[], bool], seconds: float = NOTICE_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_acquire_busy_release(redis: Redis, thread_id: str, leases: list[ThreadLease]) -> None:
    assert not is_held(thread_id)
    first = take(leases, thread_id)
    assert first.acquire()
    assert is_held(thread_id)
    assert 0 < redis.pttl(redis_keys.thread_lease(thread_id)) <= LEASE_SECONDS * 1000

    second = take(leases, thread_id)
    assert not second.acquire()
    # Another thread's lease is its own.
    assert take(leases, f"thread_{uuid.uuid4().hex}").acquire()

    first.release()
    assert not is_held(thread_id)
    assert not first.lost
    third = take(leases, thread_id)
    assert third.acquire()


def test_context_manager_releases(redis: Redis, thread_id: str) -> None:
    with ThreadLease(thread_id) as lease:
        assert lease.acquire()
        assert is_held(thread_id)
    assert not is_held(thread_id)


def test_a_failed_acquire_does_not_release_the_holder(redis: Redis, thread_id: str,
                                                       leases: list[ThreadLease]) -> None:
    holder = take(leases, thread_id)
    assert holder.acquire()
    with ThreadLease(thread_id) as other:
        assert not other.acquire()
    assert is_held(thread_id)


def test_renewal_keeps_the_lease_past_its_ttl(redis: Redis, thread_id: str,
                                              leases: list[ThreadLease]) -> None:
    lease = take(leases, thread_id)
    assert lease.acquire()
    time.sleep(LEASE_SECONDS * 2.5)
    assert is_held(thread_id)
    assert not lease.lost
    assert not take(leases, thread_id).acquire()
    lease.release()
    assert not is_held(thread_id)


def test_a_lease_not_renewed_lapses(redis: Redis, thread_id: str) -> None:
    """What a dead worker leaves: the same key and TTL with no heartbeat."""
    Lock(redis, redis_keys.thread_lease(thread_id), timeout=LEASE_SECONDS).acquire()
    assert is_held(thread_id)
    assert eventually(lambda: not is_held(thread_id))


def test_a_key_redis_forgot_is_taken_back(redis: Redis, thread_id: str,
                                          leases: list[ThreadLease]) -> None:
    """What a Redis restarted without its data leaves: the holder's key gone, no one else's
    in its place."""
    key = redis_keys.thread_lease(thread_id)
    lease = take(leases, thread_id)
    assert lease.acquire()
    ours = redis.get(key)
    redis.delete(key)
    assert eventually(lambda: redis.get(key) == ours)
    assert not lease.lost
    assert not take(leases, thread_id).acquire()
    lease.release()
    assert not is_held(thread_id)


def test_loss_is_noticed_when_another_takes_over(redis: Redis, thread_id: str,
                                                 leases: list[ThreadLease]) -> None:
    key = redis_keys.thread_lease(thread_id)
    lease = take(leases, thread_id)
    assert lease.acquire()
    # The lease lapsed and another worker took the thread with a token of its own.
    redis.delete(key)
    usurper = take(leases, thread_id)
    assert usurper.acquire()
    theirs = redis.get(key)
    assert eventually(lambda: lease.lost)
    assert not usurper.lost

    lease.release()
    assert redis.get(key) == theirs
    assert is_held(thread_id)
    usurper.release()
    assert not is_held(thread_id)


def test_release_after_a_lapse_spares_the_next_holder(redis: Redis, thread_id: str,
                                                      leases: list[ThreadLease]) -> None:
    key = redis_keys.thread_lease(thread_id)
    lease = take(leases, thread_id)
    assert lease.acquire()
    redis.set(key, b"another-worker", px=LEASE_SECONDS * 10_000)
    lease.release()
    assert redis.get(key) == b"another-worker"
    redis.delete(key)


def test_one_loop_renews_every_lease_of_the_process(redis: Redis,
                                                    leases: list[ThreadLease]) -> None:
    """Hundreds of leases, one renewing loop; the one another worker took is lost alone."""
    renewers = [t.name for t in threading.enumerate()].count("lease-renewer")
    held = [take(leases, f"thread_{uuid.uuid4().hex}") for _ in range(300)]
    assert all(lease.acquire() for lease in held)
    usurped = held[0]
    redis.set(usurped.lock.name, b"another-worker", px=LEASE_SECONDS * 10_000)
    time.sleep(LEASE_SECONDS * 2.5)
    assert usurped.lost
    assert not any(lease.lost for lease in held[1:])
    assert redis.get(usurped.lock.name) == b"another-worker"
    assert sum(redis.pttl(lease.lock.name) > 0 for lease in held[1:]) == len(held) - 1
    assert [t.name for t in threading.enumerate()].count("lease-renewer") == renewers + 1
