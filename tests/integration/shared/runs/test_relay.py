"""The stream relay (`shared.runs.relay`) over a redis-server of this file's own: one
subscriber and one fetcher feeding many followers, each from its own place, through a Redis
restart."""
import threading
import uuid
from collections.abc import Generator, Iterator
from contextlib import closing

import pytest
import redis

from shared.runs.relay import READ_CONNECTIONS, Entry, Relay, append
from shared.storage.redis_keys import STREAMS_APPENDED
from tests.support.servers import RedisServer

# Short, so waiting out a quiet follower costs the suite little.
IDLE = 0.05
# Short, so the restart test's subscriber finds Redis gone soon.
PING_SECONDS = 0.5
# Generous: only a missed wake or a lost entry ever waits this long.
PATIENCE = 10.0


# TCP as in a deployment, a Unix socket as `treadle up` embeds it.
@pytest.fixture(scope="module", params=["tcp", "unix"])
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), tcp=request.param == "tcp")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    client = server.client()
    yield client
    client.close()


@pytest.fixture
def relay(server: RedisServer) -> Iterator[Relay]:
    relay = Relay(server.url, ping_seconds=PING_SECONDS)
    yield relay
    relay.close()


@pytest.fixture
def stream() -> str:
    return f"events:run:run_{uuid.uuid4().hex}"


def add(client: redis.Redis, stream: str, *names: str) -> list[str]:
    """Append and announce, as `shared.runs.events` does."""
    pipe = client.pipeline(transaction=False)
    append(pipe, stream, [(name, "") for name in names], 60)
    return [entry_id.decode() for entry_id in pipe.execute()[0]]


def names(entries: list[Entry]) -> list[str]:
    return [entry.fields[b"e"].decode() for entry in entries]


def entries_of(relay: Relay, stream: str, after: str, idle_seconds: float
           ) -> Generator[Entry | None, None, None]:
    """The relay's batches entry by entry."""
    with closing(relay.follow(stream, after, idle_seconds)) as batches:
        for batch in batches:
            if batch is None:
                yield None
            else:
                yield from batch


def take(followed: Iterator[Entry | None], count: int, patience: float = PATIENCE
         ) -> list[Entry]:
    """The next `count` entries, skipping idle Nones for up to `patience` seconds."""
    taken: list[Entry] = []
    idle = 0.0
    while len(taken) < count:
        entry = next(followed)
        if entry is None:
            idle += IDLE
            assert idle < patience, f"nothing after {names(taken)}"
        else:
            taken.append(entry)
    return taken


def wait_for_followers(relay: Relay, count: int) -> None:
    event = threading.Event()
    for _ in range(int(PATIENCE / 0.01)):
        if relay.followers() == count:
            return
        event.wait(0.01)
    raise AssertionError(f"{relay.followers()} followers joined, not {count}")


def test_a_follower_reads_on_from_its_cursor(relay: Relay, client: redis.Redis,
                                             stream: str) -> None:
    ids = add(client, stream, "a", "b", "c")
    followed = entries_of(relay, stream, ids[0], IDLE)
    assert names(take(followed, 2)) == ["b", "c"]
    # Caught up: it joins the reader and goes quiet.
    assert next(followed) is None
    assert relay.followers() == 1
    add(client, stream, "d")
    assert names(take(followed, 1)) == ["d"]
    followed.close()
    assert relay.followers() == 0
    # Left and followed again from where it stood: only what came after.
    add(client, stream, "e")
    again = entries_of(relay, stream, ids[2], IDLE)
    assert names(take(again, 2)) == ["d", "e"]
    again.close()


def test_a_quiet_stream_yields_none_and_goes_on(relay: Relay, client: redis.Redis,
                                                stream: str) -> None:
    followed = entries_of(relay, stream, "0-0", IDLE)
    assert next(followed) is None
    assert next(followed) is None
    add(client, stream, "a", "b")
    assert names(take(followed, 2)) == ["a", "b"]
    assert next(followed) is None
    followed.close()


def test_a_follower_gets_what_the_reader_read_before_it_joined(
        relay: Relay, client: redis.Redis, stream: str) -> None:
    first = entries_of(relay, stream, "0-0", IDLE)
    assert next(first) is None
    add(client, stream, "a")
    late = entries_of(relay, stream, "0-0", IDLE)
    # `late` has caught up on "a" on its own and has not joined yet.
    assert names(take(late, 1)) == ["a"]
    add(client, stream, "b", "c")
    assert names(take(first, 3)) == ["a", "b", "c"]
    # The reader is past "c"; `late` joins at "a" and still sees b and c, once each.
    assert names(take(late, 2)) == ["b", "c"]
    add(client, stream, "d")
    assert names(take(late, 1)) == ["d"]
    assert next(late) is None
    first.close()
    late.close()


def test_many_followers_of_many_streams(relay: Relay, client: redis.Redis) -> None:
    streams = [f"events:run:run_{uuid.uuid4().hex}" for _ in range(10)]
    per_stream, count = 20, 5
    got: dict[tuple[int, int], list[str]] = {}

    def follow(index: int, copy: int) -> None:
        followed = entries_of(relay, streams[index], "0-0", IDLE)
        got[index, copy] = names(take(followed, count))
        followed.close()

    threads = [threading.Thread(target=follow, args=(index, copy))
               for index in range(len(streams)) for copy in range(per_stream)]
    for thread in threads:
        thread.start()
    wait_for_followers(relay, len(threads))
    for index, stream in enumerate(streams):
        add(client, stream, *(f"{index}.{n}" for n in range(count)))
    for thread in threads:
        thread.join(timeout=PATIENCE)
    assert got == {(index, copy): [f"{index}.{n}" for n in range(count)]
                   for index in range(len(streams)) for copy in range(per_stream)}
    # However many followers: this test's connection, the subscriber's and a few for reads.
    assert len(client.client_list()) <= 1 + 1 + READ_CONNECTIONS


def test_what_came_between_catching_up_and_joining_is_fetched(
        relay: Relay, client: redis.Redis, stream: str) -> None:
    add(client, stream, "a")
    followed = entries_of(relay, stream, "0-0", IDLE)
    assert names(take(followed, 1)) == ["a"]
    # Announced while no one followed the stream: no one fetched it.
    add(client, stream, "b", "c")
    assert names(take(followed, 2)) == ["b", "c"]
    assert next(followed) is None
    followed.close()


def reads(client: redis.Redis) -> int:
    """Stream reads the server has served since its statistics were last reset."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{command}", {}).get("calls", 0)
               for command in ("xread", "xrange", "xrevrange"))


def test_an_expected_stream_is_handed_on_with_no_read(relay: Relay, client: redis.Redis,
                                                      stream: str) -> None:
    """A run's stream followed before its first event: every entry comes with its
    announcement, the stream is never read; left, it is followed no more."""
    # The subscriber subscribes with the relay's first follower, and then has every
    # followed stream read once: the test waits for that to be over.
    relay.expect(f"events:run:run_{uuid.uuid4().hex}").leave()
    settled, seen = threading.Event(), -1
    for _ in range(int(PATIENCE / 0.1)):
        if client.pubsub_numsub(STREAMS_APPENDED)[0][1] and reads(client) == seen:
            break
        seen = reads(client)
        settled.wait(0.1)
    client.config_resetstat()
    expected = relay.expect(stream)
    add(client, stream, "created", "queued")
    add(client, stream, "in_progress")
    batches = expected.batches(IDLE)
    handed: list[Entry] = []
    while len(handed) < 3:
        batch = next(batches)
        handed += batch or []
    assert names(handed) == ["created", "queued", "in_progress"]
    assert next(batches) is None
    # XREVRANGE once per append (the script finds the newest entry before it); nothing else.
    assert reads(client) == 2
    batches.close()
    assert relay.followers() == 0
    unread = relay.expect(stream)
    assert relay.followers() == 1
    unread.leave()
    unread.leave()
    assert relay.followers() == 0


def test_unannounced_appends_wait_for_the_next_announcement(
        relay: Relay, client: redis.Redis, stream: str) -> None:
    followed = entries_of(relay, stream, "0-0", IDLE)
    assert next(followed) is None
    client.xadd(stream, {"e": "quiet"})
    assert next(followed) is None
    add(client, stream, "loud")
    assert names(take(followed, 2)) == ["quiet", "loud"]
    followed.close()


def test_followers_keep_their_place_through_a_redis_restart(
        server: RedisServer, stream: str) -> None:
    relay = Relay(server.url, ping_seconds=PING_SECONDS)
    try:
        client = server.client()
        add(client, stream, "a", "b")
        followed = entries_of(relay, stream, "0-0", IDLE)
        assert names(take(followed, 2)) == ["a", "b"]
        assert next(followed) is None
        server.stop()
        # Quiet while Redis is gone, never an error.
        quiet = [next(followed) for _ in range(int(3 * PING_SECONDS / IDLE))]
        assert quiet == [None] * len(quiet)
        server.start()
        add(client, stream, "c")
        add(client, stream, "d")
        # Read on from "b": nothing lost, nothing twice.
        assert names(take(followed, 2)) == ["c", "d"]
        assert next(followed) is None
        followed.close()
        client.close()
    finally:
        relay.close()
