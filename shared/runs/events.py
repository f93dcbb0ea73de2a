"""Each run's events as a Redis Stream: workers append, any API replica relays or replays.

Keys: `redis_keys.run_events`, expiring `events_ttl_seconds` after the last append. Entries
hold the event name (`e`) and its JSON data (`d`) exactly as sent on the wire; a `done`
entry ends each stretch of the run that a client request follows. Each append is announced
with its entries, and followers are fed by their process's one relay (`shared/runs/relay.py`),
so a quiet follower holds no Redis connection.
"""
import json
import re
import time
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from redis.client import Pipeline

from shared.config import get_settings
from shared.errors import InvalidRequestError
from shared.platform.turns import step_aside
from shared.runs import relay
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
    return first_id(pipe.execute()[0])


def append(pipe: Pipeline, run_id: str, events: list[tuple[str, Any]]) -> None:
    """Queue the appends on `pipe`, so other writes can share the round trip; the command's
    answer is the list of the events' ids (`first_id` reads the first)."""
    relay.append(pipe, redis_keys.run_events(run_id),
                 [(name, data if isinstance(data, str) else _json(data)) for name, data in events],
                 get_settings().events_ttl_seconds)


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def first_id(answer: list[Any]) -> str:
    """The id of the first event of an `append`'s answer."""
    first = answer[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def expect(run_id: str) -> relay.Joined:
    """Follow a run's stream from before its first event is appended (a run the caller
    creates and streams): its events then come with their announcements, none is read.
    Pass it to `follow`, or leave it."""
    return relay.get_relay().expect(redis_keys.run_events(run_id))


def follow(run_id: str, after: str = "0-0", block_ms: int = 15_000, just_written: bool = False,
           expected: relay.Joined | None = None) -> Generator[list[Event] | None, None, None]:
    """Events after `after`, forever, in the batches they come in; yields None when
    `block_ms` passes with nothing new. `just_written`: the caller has just written the
    events after `after` (a create), so they are few (`relay.Relay.follow`'s `read_first`).
    `expected`: the run's stream followed from its start already (`expect`)."""
    step_aside()
    batches = expected.batches(block_ms / 1000) if expected is not None else \
        relay.get_relay().follow(redis_keys.run_events(run_id), after, block_ms / 1000,
                                 read_first=not just_written)
    with closing(batches):
        for batch in batches:
            yield None if batch is None else [
                Event(entry.id, entry.fields[b"e"].decode(), entry.fields[b"d"].decode())
                for entry in batch]


def recorded(run_id: str) -> list[tuple[str, str]]:
    """Every event the run's stream holds, as (name, data): what any client was shown."""
    entries: Any = get_redis().xrange(redis_keys.run_events(run_id))
    return [(fields[b"e"].decode(), fields[b"d"].decode()) for _, fields in entries]


_CURSOR = re.compile(r"\d{1,20}-\d{1,20}")


def cursor(value: str) -> str:
    """A client's `Last-Event-ID`, checked: an event id this stream gave out."""
    if not _CURSOR.fullmatch(value):
        raise InvalidRequestError(
            f"Invalid 'Last-Event-ID' header: expected an event id such as '1700000000000-0', "
            f"got '{value[:64]}'.", param="Last-Event-ID")
    return value


def cursor_now() -> str:
    """A stream id for "from now on", when the last appended id is not known (Redis was
    away): entries appended from now on have later ids, as Redis stamps them with its clock."""
    return f"{time.time_ns() // 1_000_000 - 1}-0"


def just_before(entry_id: str) -> str:
    """The stream id right before `entry_id`, so a read after it starts with that entry."""
    millis, seq = (int(part) for part in entry_id.split("-"))
    if seq > 0:
        return f"{millis}-{seq - 1}"
    return f"{millis - 1}-{2**64 - 1}"
