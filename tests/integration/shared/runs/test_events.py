"""A run's event stream (`shared.runs.events`) over a real Redis."""
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from shared.config import get_settings
from shared.runs.events import DONE, Event, follow, just_before, publish
from shared.storage import redis_keys
from shared.storage.redis import get_redis

# Short, so waiting out an idle read costs the suite little.
BLOCK_MS = 50


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return get_redis()


@pytest.fixture
def run_id() -> str:
    return f"run_{uuid.uuid4().hex}"


def stored_ids(redis: Redis, run_id: str) -> list[str]:
    """The ids of the run's stream entries, read straight from Redis."""
    entries: Any = redis.xrange(redis_keys.run_events(run_id))
    return [entry_id.decode() for entry_id, _ in entries]


def take(batches: Iterator[list[Event] | None], count: int) -> list[Event]:
    """The next `count` events, in as many batches as hold exactly that many; an idle read
    before then fails the test."""
    taken: list[Event] = []
    while len(taken) < count:
        batch = next(batches)
        assert batch, f"no event after {[e.name for e in taken]}"
        taken.extend(batch)
    assert len(taken) == count, [e.name for e in taken]
    return taken


def test_publish_returns_the_first_id(redis: Redis, run_id: str) -> None:
    first = publish(run_id, [("thread.run.created", {"id": run_id}),
                             ("thread.run.queued", {"id": run_id})])
    stored = stored_ids(redis, run_id)
    assert len(stored) == 2 and stored[0] == first
    later = publish(run_id, [(DONE, "[DONE]")])
    assert stored_ids(redis, run_id) == [*stored, later]


def test_entries_hold_the_name_and_wire_data(redis: Redis, run_id: str) -> None:
    data = {"id": run_id, "object": "thread.run", "nested": {"a": [1, 2]}, "text": "é 【0:0†x】"}
    publish(run_id, [("thread.run.created", data), (DONE, "[DONE]")])
    created, done = take(follow(run_id, block_ms=BLOCK_MS), 2)
    assert created.name == "thread.run.created"
    # Compact JSON, exactly as sent on the wire.
    assert created.data == json.dumps(data, separators=(",", ":"))
    assert json.loads(created.data) == data
    # Strings go as they are.
    assert (done.name, done.data) == (DONE, "[DONE]")


def test_follow_yields_in_order_after_a_cursor(redis: Redis, run_id: str) -> None:
    names = [f"event.{i}" for i in range(6)]
    publish(run_id, [(name, {"i": i}) for i, name in enumerate(names)])
    everything = take(follow(run_id, block_ms=BLOCK_MS), 6)
    assert [e.name for e in everything] == names
    assert [json.loads(e.data)["i"] for e in everything] == list(range(6))
    ids = [e.id for e in everything]
    assert ids == stored_ids(redis, run_id)

    after_third = follow(run_id, after=ids[2], block_ms=BLOCK_MS)
    assert [e.name for e in take(after_third, 3)] == names[3:]
    assert next(after_third) is None


def test_just_before_starts_a_read_at_an_entry(redis: Redis, run_id: str) -> None:
    publish(run_id, [("a", {}), ("b", {}), ("c", {})])
    ids = [e.id for e in take(follow(run_id, block_ms=BLOCK_MS), 3)]
    for index, entry_id in enumerate(ids):
        started = follow(run_id, after=just_before(entry_id), block_ms=BLOCK_MS)
        assert [e.id for e in take(started, 3 - index)] == ids[index:]
        assert next(started) is None


def test_just_before_an_entry_with_sequence_zero(redis: Redis, run_id: str) -> None:
    stream = redis_keys.run_events(run_id)
    redis.xadd(stream, {"e": "first", "d": "{}"}, id="1700000000000-0")
    redis.xadd(stream, {"e": "second", "d": "{}"}, id="1700000000000-1")
    redis.expire(stream, 60)
    started = follow(run_id, after=just_before("1700000000000-0"), block_ms=BLOCK_MS)
    assert [e.name for e in take(started, 2)] == ["first", "second"]


def test_the_stream_expires_and_each_publish_renews_it(redis: Redis, run_id: str) -> None:
    stream = redis_keys.run_events(run_id)
    ttl_seconds = get_settings().events_ttl_seconds
    publish(run_id, [("a", {})])
    assert 0 < redis.ttl(stream) <= ttl_seconds
    redis.expire(stream, 5)
    publish(run_id, [("b", {})])
    assert redis.ttl(stream) > ttl_seconds - 60


def test_follow_yields_none_when_idle_then_goes_on(redis: Redis, run_id: str) -> None:
    events = follow(run_id, block_ms=BLOCK_MS)
    # Nothing yet, not even a stream.
    assert next(events) is None
    publish(run_id, [("a", {})])
    [first] = take(events, 1)
    assert next(events) is None
    assert next(events) is None
    publish(run_id, [("b", {}), ("c", {})])
    # The cursor moved past what was read: only the new events follow.
    assert [e.name for e in take(events, 2)] == ["b", "c"]
    assert first.name == "a"
    assert next(events) is None


def test_runs_have_streams_of_their_own(redis: Redis, run_id: str) -> None:
    other = f"run_{uuid.uuid4().hex}"
    publish(run_id, [("mine", {})])
    publish(other, [("theirs", {})])
    mine = follow(run_id, block_ms=BLOCK_MS)
    assert [e.name for e in take(mine, 1)] == ["mine"]
    assert next(mine) is None
