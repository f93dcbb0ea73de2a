"""One Redis subscriber per process that hands stream entries to every local follower.

A follower holds no Redis connection while it waits. Whoever appends to a stream does it
through `append`, one script that adds the entries and publishes them, with their ids and the
id of the entry before them; each process's relay is subscribed. When a stream it follows
was handed up to that entry before, the relay hands the published entries on as they are:
an event reaches its followers with no read. Otherwise (a gap: an announcement missed, or a
follower that joined since) one fetcher reads what is new in the stream (batched with every
other stream due meanwhile) and puts it in the inboxes of that stream's followers. So
followers cost memory, not connections, and a busy moment costs a read of the streams that
moved and only of those. (One blocking XREAD over every followed stream would cost a command
naming all of them each time any one moves.)

A new follower first catches up on its own with non-blocking reads (so a replay of a finished
stream never reaches the relay), then joins; its stream is fetched once as it joins, for what
was appended between its last read and its joining. A follower of a stream not written yet
(a run the request creates) joins before its first entry (`expect`): then every entry comes
with its announcement, and the stream is never read.

Every follower keeps its own place and the relay one per stream. When Redis goes away the
subscriber reconnects with backoff and, subscribed again, has every followed stream fetched
from where it stood: followers see nothing meanwhile (their waits time out, and the API sends
keep-alives), then read on with nothing lost or repeated.

Threads, locks and events only: under gevent's monkey patching (the API's workers) they are
greenlets and greenlet-aware primitives; elsewhere (tests, tools) real threads.
"""
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Generator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from redis import BlockingConnectionPool, Redis, RedisError
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

from shared.config import get_settings
from shared.storage import redis_keys

log = logging.getLogger(__name__)

# Entries per stream per read, and streams per fetch.
COUNT = 500
FETCH_STREAMS = 1_000
# A subscriber that heard nothing this long pings; no answer by the next such wait and its
# connection is taken for dead.
PING_SECONDS = 10.0
# Reads (catch-ups, fetches) share a few connections; a burst of joins queues here.
READ_CONNECTIONS = 8
READ_SOCKET_TIMEOUT = 5.0
READ_POOL_WAIT = 30.0
# The wait after a failure, doubled after each further one up to the cap.
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 2.0
# Its connections' name in CLIENT LIST.
CLIENT_NAME = "treadle-relay"

Order = tuple[int, int]


def _as_heard(message: Any) -> Any:
    """A RESP3 announcement as redis-py parsed it. Its default handler logs each one at debug
    level, making the string of the whole message (the entries it carries) every time."""
    return message


# KEYS[1] the stream; ARGV[1] its TTL, ARGV[2] the channel, then a name and data per entry.
# Published: the stream, the id of its newest entry before these ('0-0' if none), then per
# entry its id, name, data length and data, each part ending in a newline but the last.
_APPEND = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local parts = {KEYS[1], newest[1] and newest[1][1] or '0-0'}
local ids = {}
for i = 3, #ARGV, 2 do
    local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'd', ARGV[i + 1])
    ids[#ids + 1] = id
    parts[#parts + 1] = id .. '\\n' .. ARGV[i] .. '\\n' .. #ARGV[i + 1] .. '\\n' .. ARGV[i + 1]
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], table.concat(parts, '\\n'))
return ids
"""


def append(pipe: Pipeline, stream: str, entries: list[tuple[str, str]], ttl: int) -> None:
    """Queue on `pipe` the appends of (name, data) entries to `stream`, its TTL renewed, and
    their announcement; the command's answer is the list of their ids. By EVAL, so the
    pipeline needs no check that a script is loaded (redis-py's scripts cost one more
    round trip in a pipeline)."""
    args: list[str | int] = [ttl, redis_keys.STREAMS_APPENDED]
    for name, data in entries:
        args += [name, data]
    pipe.eval(_APPEND, 1, stream, *args)


def order(entry_id: str) -> Order:
    """A stream id as a comparable (milliseconds, sequence); "5" stands for 5-0."""
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[bytes, bytes]


def _announced(message: bytes) -> tuple[str, str, list[tuple[Order, Entry]]]:
    """An announcement read: the stream, the id before its entries, and the entries."""
    stream, before, rest = message.split(b"\n", 2)
    entries: list[tuple[Order, Entry]] = []
    at = 0
    while at < len(rest):
        id_end = rest.index(b"\n", at)
        name_end = rest.index(b"\n", id_end + 1)
        size_end = rest.index(b"\n", name_end + 1)
        start = size_end + 1
        stop = start + int(rest[name_end + 1:size_end])
        entry_id = rest[at:id_end].decode()
        entries.append((order(entry_id), Entry(entry_id, {b"e": rest[id_end + 1:name_end],
                                                          b"d": rest[start:stop]})))
        at = stop + 1
    return stream.decode(), before.decode(), entries


class Follower:
    """One follower's place in a stream and the entries handed to it but not yet taken."""

    def __init__(self, stream: str, cursor: str) -> None:
        self.stream = stream
        # The newest entry this follower has read or been handed; older ones are skipped.
        self.newest = order(cursor)
        self._inbox: deque[Entry] = deque()
        self._ready = threading.Event()

    def hand(self, entries: list[tuple[Order, Entry]]) -> None:
        """Called by the fetcher, under the relay's lock."""
        fresh = [entry for key, entry in entries if key > self.newest]
        if fresh:
            self.newest = entries[-1][0]
            self._inbox.extend(fresh)
            self._ready.set()

    def take(self, timeout: float) -> list[Entry]:
        """What was handed since the last take, waiting up to `timeout`; [] when none came."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._ready.wait(max(0.0, deadline - time.monotonic())):
                return []
            # Cleared before draining: an entry handed meanwhile sets it again, none is missed.
            self._ready.clear()
            taken: list[Entry] = []
            while self._inbox:
                taken.append(self._inbox.popleft())
            if taken:
                return taken


class Relay:
    """The process's followers of Redis streams, its subscriber and its fetcher."""

    def __init__(self, redis_url: str, ping_seconds: float = PING_SECONDS) -> None:
        self._ping_seconds = ping_seconds
        self._subscriber = Redis.from_url(
            redis_url, socket_timeout=READ_SOCKET_TIMEOUT, retry=Retry(NoBackoff(), 0),
            client_name=CLIENT_NAME)
        self._reads = Redis(connection_pool=BlockingConnectionPool.from_url(
            redis_url, max_connections=READ_CONNECTIONS, timeout=READ_POOL_WAIT,
            socket_timeout=READ_SOCKET_TIMEOUT, client_name=CLIENT_NAME))
        self._lock = threading.Lock()
        self._followers: dict[str, set[Follower]] = {}
        # Per followed stream, the id its followers have been handed up to.
        self._cursors: dict[str, str] = {}
        # Followed streams that may hold entries past their cursor; the fetcher's work.
        self._due: set[str] = set()
        self._fetch_wanted = threading.Event()
        self._started = False
        self._closed = False

    def expect(self, stream: str) -> "Joined":
        """Join a stream that holds no entry yet, before its first is appended: its
        announcements hand every entry on, with no read (the subscriber, when it
        subscribes again, has it read like any other)."""
        follower = Follower(stream, "0-0")
        with self._lock:
            self._start()
            self._cursors.setdefault(stream, "0-0")
            self._followers.setdefault(stream, set()).add(follower)
        return Joined(self, follower)

    def follow(self, stream: str, after: str, idle_seconds: float, read_first: bool = True
               ) -> Generator[list[Entry] | None, None, None]:
        """Entries of `stream` after `after`, forever, in the batches they come in (a read,
        or what was handed meanwhile), so a client can be sent each batch at once; None
        after `idle_seconds` of quiet. `read_first=False` joins at once, for a stream that
        holds only a few entries after `after` (one the caller just wrote): the fetcher
        reads them, in one command with every other stream due, rather than a read of its
        own."""
        cursor = after
        while read_first:
            reply: Any = self._reads.xread({stream: cursor}, count=COUNT)
            read = [Entry(raw_id.decode(), fields) for raw_id, fields in
                    (reply[0][1] if reply else [])]
            if read:
                cursor = read[-1].id
                yield read
            if len(read) < COUNT:
                break
        follower, missed = self._join(stream, cursor)
        joined = Joined(self, follower)
        try:
            if missed:
                yield missed
            yield from joined.batches(idle_seconds)
        finally:
            joined.leave()

    def followers(self) -> int:
        with self._lock:
            return sum(len(followers) for followers in self._followers.values())

    def close(self) -> None:
        """Stop the subscriber and the fetcher, and drop every connection."""
        self._closed = True
        self._fetch_wanted.set()
        with suppress(RedisError):
            self._subscriber.connection_pool.disconnect()
            self._reads.connection_pool.disconnect()

    def _join(self, stream: str, cursor: str) -> tuple[Follower, list[Entry]]:
        """Register a follower that has read up to `cursor`; returns it and what its stream's
        other followers were handed past that place, which it would otherwise never see."""
        follower = Follower(stream, cursor)
        missed_until: str | None = None
        with self._lock:
            self._start()
            handed = self._cursors.get(stream)
            if handed is None:
                # What came between the follower's last read and now was announced to no one.
                self._cursors[stream] = cursor
                self._due.add(stream)
                self._fetch_wanted.set()
            elif order(handed) > follower.newest:
                missed_until, follower.newest = handed, order(handed)
            self._followers.setdefault(stream, set()).add(follower)
        if missed_until is None:
            return follower, []
        try:
            raw: Any = self._reads.xrange(stream, f"({cursor}", missed_until)
        except BaseException:
            self.leave(follower)
            raise
        return follower, [Entry(raw_id.decode(), fields) for raw_id, fields in raw]

    def _start(self) -> None:
        """Under the lock: the subscriber and the fetcher, started with the first follower."""
        if not self._started:
            self._started = True
            for target, name in ((self._listen, "relay-subscriber"),
                                 (self._fetch, "relay-fetcher")):
                threading.Thread(target=target, name=name, daemon=True).start()

    def leave(self, follower: Follower) -> None:
        """Stop handing the follower entries; once more changes nothing."""
        with self._lock:
            followers = self._followers.get(follower.stream)
            if followers is None:
                return
            followers.discard(follower)
            if not followers:
                del self._followers[follower.stream]
                del self._cursors[follower.stream]
                self._due.discard(follower.stream)

    def _mark_due(self, streams: list[str] | None = None) -> None:
        """Have the fetcher read `streams` (those followed among them), or every one."""
        with self._lock:
            if streams is None:
                self._due.update(self._cursors)
            else:
                self._due.update(stream for stream in streams if stream in self._cursors)
            if self._due:
                self._fetch_wanted.set()

    def _hear(self, message: bytes) -> None:
        """Hand an announcement's entries on, or have the stream read when they do not
        follow on from where its followers stand."""
        name, newline, _ = message.partition(b"\n")
        stream = name.decode()
        if stream not in self._cursors:
            return
        if not newline:
            # A bare stream name (a publisher of an earlier release): read the stream.
            self._mark_due([stream])
            return
        stream, before, entries = _announced(message)
        with self._lock:
            if self._cursors.get(stream) == before:
                self._hand_over(stream, entries)
                return
        self._mark_due([stream])

    def _listen(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._closed:
            pubsub = self._subscriber.pubsub(push_handler_func=_as_heard)
            try:
                pubsub.subscribe(redis_keys.STREAMS_APPENDED)
                unanswered = False
                while not self._closed:
                    message = pubsub.get_message(timeout=self._ping_seconds)
                    if message is None:
                        if unanswered:
                            raise TimeoutError("the subscriber's ping went unanswered")
                        pubsub.ping()
                        unanswered = True
                        continue
                    unanswered = False
                    if message["type"] == "message":
                        self._hear(message["data"])
                    elif message["type"] == "subscribe":
                        # Announcements from here on reach this subscriber; what was
                        # appended before may not have: read every stream from its place.
                        self._mark_due()
                        if backoff != FIRST_BACKOFF:
                            log.info("stream relay subscribed again")
                            backoff = FIRST_BACKOFF
            except Exception as error:
                # Whatever it was (Redis gone, or closed under it), the subscriber lives on.
                if self._closed:
                    break
                if backoff == FIRST_BACKOFF:
                    log.warning("stream relay lost Redis, subscribing again: %r", error)
                time.sleep(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF)
            finally:
                with suppress(RedisError, OSError):
                    pubsub.close()

    def _fetch(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            self._fetch_wanted.wait()
            self._fetch_wanted.clear()
            if self._closed:
                return
            with self._lock:
                taken = [self._due.pop() for _ in range(min(FETCH_STREAMS, len(self._due)))]
                places: dict[Any, Any] = {stream: self._cursors[stream] for stream in taken}
            if not places:
                continue
            try:
                reply: Any = self._reads.xread(places, count=COUNT)
            except Exception as error:
                if self._closed:
                    return
                # Due again, and read again after the backoff.
                self._mark_due(taken)
                if backoff == FIRST_BACKOFF:
                    log.warning("stream relay could not read: %r", error)
                time.sleep(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF)
                continue
            backoff = FIRST_BACKOFF
            again = [stream for raw_stream, raw_entries in reply or ()
                     if not self._hand(stream := raw_stream.decode(), places[stream],
                                       raw_entries)]
            # Still more to read (and any streams due beyond the ones this fetch took).
            self._mark_due(again)

    def _hand(self, stream: str, read_from: str, raw_entries: list[Any]) -> bool:
        """Hand entries read after `read_from` to the stream's followers; False when the
        stream must be read again."""
        entries = []
        for raw_id, fields in raw_entries:
            entry_id = raw_id.decode()
            entries.append((order(entry_id), Entry(entry_id, fields)))
        with self._lock:
            if self._cursors.get(stream) != read_from:
                # Left, or left and joined again at another place, or handed on from an
                # announcement, while this read was on.
                return stream not in self._cursors
            self._hand_over(stream, entries)
        return len(entries) < COUNT

    def _hand_over(self, stream: str, entries: list[tuple[Order, Entry]]) -> None:
        """Under the lock: the stream's followers get `entries`, which follow on from its
        cursor."""
        self._cursors[stream] = entries[-1][1].id
        for follower in self._followers[stream]:
            follower.hand(entries)


class Joined:
    """A joined follower (`Relay.expect`'s, or `Relay.follow`'s once caught up): its entries,
    in batches (`batches`), until it leaves, which whoever holds it must see to (`leave`) if
    it never reads them."""

    def __init__(self, relay: Relay, follower: Follower) -> None:
        self._relay = relay
        self._follower = follower

    def batches(self, idle_seconds: float) -> Generator[list[Entry] | None, None, None]:
        """As `Relay.follow` yields them."""
        try:
            while True:
                yield self._follower.take(idle_seconds) or None
        finally:
            self.leave()

    def leave(self) -> None:
        self._relay.leave(self._follower)


_relay: Relay | None = None
_relay_pid = 0
_relay_lock = threading.Lock()


def get_relay() -> Relay:
    """This process's relay, made on first use: gunicorn forks its workers after importing
    the app, so each worker makes its own, after gevent has patched it."""
    global _relay, _relay_pid
    with _relay_lock:
        if _relay is None or _relay_pid != os.getpid():
            _relay, _relay_pid = Relay(get_settings().redis_url), os.getpid()
        return _relay
