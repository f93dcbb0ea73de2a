"""Each run's events as a Redis Stream: workers append, any API replica relays or replays.

Keys: `redis_keys.run_events`, expiring `events_ttl_seconds` after the last append. Entries
hold the event name (`e`) and its JSON data (`d`) exactly as sent on the wire; a `done`
entry ends each stretch of the run that a client request follows.
"""
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis.client import Pipeline

from shared.config import get_settings
from shared.storage import redis_keys
from shared.storage.redis import get_redis

DONE = "done"


@dataclass(frozen=True)
class Event:
    id: str
    name: str
    data: str

    def sse(self) -> bytes:
        return f"id: {self.id}\nevent: {self.name}\ndata: {self.data}\n\n".encode()


def publish(run_id: str, events: list[tuple[str, Any]]) -> str:
    """Append events in one round trip; returns the id of the first."""
    pipe = get_redis().pipeline(transaction=False)
    append(pipe, run_id, events)
    ids: list[Any] = pipe.execute()
    first = ids[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def append(pipe: Pipeline, run_id: str, events: list[tuple[str, Any]]) -> None:
    """Queue the appends on `pipe`, so other writes can share the round trip."""
    stream = redis_keys.run_events(run_id)
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        pipe.xadd(stream, {"e": name, "d": text})
    pipe.expire(stream, get_settings().events_ttl_seconds)


def follow(run_id: str, after: str = "0-0", block_ms: int = 15_000) -> Iterator[Event | None]:
    """Events after `after`, forever; yields None when `block_ms` passes with nothing new."""
    redis = get_redis()
    stream = redis_keys.run_events(run_id)
    cursor = after
    while True:
        reply: Any = redis.xread({stream: cursor}, count=500, block=block_ms)
        if not reply:
            yield None
            continue
        for entry_id, fields in reply[0][1]:
            cursor = entry_id.decode()
            yield Event(cursor, fields[b"e"].decode(), fields[b"d"].decode())


def just_before(entry_id: str) -> str:
    """The stream id right before `entry_id`, so a read after it starts with that entry."""
    millis, seq = (int(part) for part in entry_id.split("-"))
    if seq > 0:
        return f"{millis}-{seq - 1}"
    return f"{millis - 1}-{2**64 - 1}"
