"""The process's watch over its runs' cancel flags (`shared.runs.cancels`) on a real Redis."""
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack

from redis import Redis

from shared.runs import cancels
from shared.storage import redis_keys
from shared.storage.redis import get_redis

# Many poll periods: a flag set is seen well within this.
PATIENCE = 5.0


def eventually(condition: Callable[[], bool], seconds: float = PATIENCE) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def run_id() -> str:
    return f"run_{uuid.uuid4().hex}"


def test_a_flag_set_is_seen_by_its_watched_run_only(redis_url: str) -> None:
    redis = get_redis()
    cancelled, other, unwatched = run_id(), run_id(), run_id()
    with cancels.watching(cancelled), cancels.watching(other):
        time.sleep(3 * cancels.POLL_SECONDS)
        assert not cancels.requested(cancelled)
        redis.set(redis_keys.run_cancel(cancelled), "1", ex=60)
        redis.set(redis_keys.run_cancel(unwatched), "1", ex=60)
        assert eventually(lambda: cancels.requested(cancelled))
        time.sleep(3 * cancels.POLL_SECONDS)
        assert not cancels.requested(other)
    # Not watched (any more): no answer from memory; a look now still reads Redis.
    assert not cancels.requested(cancelled) and not cancels.requested(unwatched)
    assert cancels.requested_now(unwatched)


def _mget_calls(redis: Redis) -> int:
    stats = redis.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


def test_many_runs_cost_one_command_per_poll(redis_url: str) -> None:
    redis = get_redis()
    watched = [run_id() for _ in range(500)]
    with ExitStack() as stack:
        for watched_id in watched:
            stack.enter_context(cancels.watching(watched_id))
        before, began = _mget_calls(redis), time.monotonic()
        redis.set(redis_keys.run_cancel(watched[-1]), "1", ex=60)
        assert eventually(lambda: cancels.requested(watched[-1]))
        time.sleep(10 * cancels.POLL_SECONDS)
        polls, periods = (_mget_calls(redis) - before,
                          (time.monotonic() - began) / cancels.POLL_SECONDS)
        assert not any(cancels.requested(w) for w in watched[:-1])
    # One MGET per period for all 500 runs: about `periods` (other processes on this Redis
    # may add some), where a look per run would be 500 times that.
    assert 1 <= polls < len(watched), (polls, periods)
