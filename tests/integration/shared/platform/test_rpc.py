"""Request and answer (`shared.platform.rpc`, `shared.platform.replies`) over a real Redis.

No worker runs here: the Celery sender is replaced by one that records each request and, when
asked to, hands it to a thread playing the worker, which answers through `rpc.answer`. The
tests that count connections or restart Redis use a redis-server of their own.
"""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from shared.errors import InvalidRequestError, ServiceUnavailableError
from shared.platform import rpc, tasks
from shared.platform.replies import CLIENT_NAME, REPLY_TTL_SECONDS, Replies, deliver
from shared.storage import redis_keys
from shared.storage.redis import get_redis
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

Worker = Callable[[dict[str, Any]], dict[str, Any] | None]
# Waiters at once in the connection counts.
MANY = 500
# Generous: only a lost answer or a missed wake ever waits this long.
PATIENCE = 30.0


@dataclass
class FakeSender:
    """Records each request and, with a worker, answers it from a thread after `delay` s."""
    worker: Worker | None = None
    delay: float = 0.0
    sent: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def __call__(self, name: str, channel: str, request_id: str, payload: dict[str, Any]
                 ) -> None:
        self.sent.append((name, channel, request_id, payload))
        if self.worker is None:
            return
        thread = threading.Thread(target=self._answer, args=(channel, request_id, payload),
                                  daemon=True)
        self.threads.append(thread)
        thread.start()

    def _answer(self, channel: str, request_id: str, payload: dict[str, Any]) -> None:
        time.sleep(self.delay)
        assert self.worker is not None
        result = self.worker(payload)
        if result is not None:
            rpc.answer(channel, request_id, result)


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return get_redis()


@pytest.fixture
def sender(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeSender]]:
    made: list[FakeSender] = []

    def install(worker: Worker | None = None, delay: float = 0.0) -> FakeSender:
        fake = FakeSender(worker, delay)
        monkeypatch.setattr(rpc, "send_rpc", fake)
        made.append(fake)
        return fake

    yield install
    for fake in made:
        for thread in fake.threads:
            thread.join(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, whose every client is the test's."""
    server = RedisServer(tmp_path, tcp=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_replies(own_redis: RedisServer) -> Iterator[Replies]:
    replies = Replies(own_redis.url)
    yield replies
    replies.close()


def clients(client: Redis) -> list[str]:
    """The names of the server's connections ("" for the unnamed)."""
    return [str(entry.get("name", "")) for entry in client.client_list()]


def test_call_returns_the_answer(redis: Redis, sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda payload: {"result": {"echo": payload["query"], "hits": [1]}})
    assert rpc.call(tasks.SEARCH, {"query": "treadle"}, timeout=10) == {
        "echo": "treadle", "hits": [1]}
    [(name, channel, request_id, payload)] = fake.sent
    assert name == tasks.SEARCH and payload == {"query": "treadle"}
    assert channel.startswith("replies:process:") and request_id
    # The answer was taken off the channel, and no one waits any more.
    assert not redis.exists(channel)
    assert rpc.get_replies().waiting() == 0


def test_call_waits_for_a_late_answer(sender: Callable[..., FakeSender]) -> None:
    sender(lambda payload: {"result": "late"}, delay=0.5)
    assert rpc.call(tasks.RUN_CODE, {}, timeout=10) == "late"


def test_calls_share_the_channel_under_their_own_ids(sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda payload: {"result": payload["n"]})
    assert [rpc.call(tasks.SEARCH, {"n": n}, timeout=10) for n in range(3)] == [0, 1, 2]
    assert len({channel for _, channel, _, _ in fake.sent}) == 1
    assert len({request_id for _, _, request_id, _ in fake.sent}) == 3


def test_a_null_result_is_a_result(sender: Callable[..., FakeSender]) -> None:
    sender(lambda payload: {"result": None})
    assert rpc.call(tasks.SEARCH, {}, timeout=10) is None


def test_invalid_request_carries_its_param(sender: Callable[..., FakeSender]) -> None:
    sender(lambda payload: {"invalid_request": "Bad filter.", "param": "filters"})
    with pytest.raises(InvalidRequestError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.message == "Bad filter."
    assert info.value.param == "filters"
    assert info.value.status == 400


def test_invalid_request_without_a_param(sender: Callable[..., FakeSender]) -> None:
    sender(lambda payload: {"invalid_request": "No."})
    with pytest.raises(InvalidRequestError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.param is None


def test_an_error_is_service_unavailable(sender: Callable[..., FakeSender]) -> None:
    sender(lambda payload: {"error": "The vector engine is down."})
    with pytest.raises(ServiceUnavailableError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.message == "The vector engine is down."
    assert info.value.status == 503


def test_no_answer_in_time_is_service_unavailable(sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda payload: None)
    with pytest.raises(ServiceUnavailableError) as info:
        rpc.call(tasks.RUN_CODE, {}, timeout=0.3)
    assert tasks.RUN_CODE in info.value.message
    assert len(fake.sent) == 1
    assert rpc.get_replies().waiting() == 0


def test_an_answer_after_the_deadline_is_dropped(redis: Redis,
                                                 sender: Callable[..., FakeSender]) -> None:
    """The reader takes the late answer off the channel and hands it to no one; the next call
    gets its own answer, not the late one."""
    fake = sender(lambda payload: {"result": payload["n"]}, delay=0.6)
    with pytest.raises(ServiceUnavailableError):
        rpc.call(tasks.SEARCH, {"n": 1}, timeout=0.2)
    fake.threads[0].join(timeout=10)
    [(_, channel, _, _)] = fake.sent
    wait_for(lambda: not redis.exists(channel), 10, "the late answer taken off the channel")
    assert rpc.call(tasks.SEARCH, {"n": 2}, timeout=10) == 2


def test_answers_expire_when_no_one_reads_them(redis: Redis) -> None:
    """The channel of a process that died: what was pushed to it goes a TTL later."""
    channel = redis_keys.new_process_replies()
    rpc.answer(channel, "abc", {"result": {"hits": []}})
    rpc.answer(channel, "def", {"error": "No."})
    assert 0 < redis.ttl(channel) <= REPLY_TTL_SECONDS
    pushed: Any = redis.lrange(channel, 0, -1)
    assert [json.loads(raw) for raw in pushed] == [
        {"id": "abc", "answer": {"result": {"hits": []}}},
        {"id": "def", "answer": {"error": "No."}}]


def test_many_waiters_share_one_connection(own_redis: RedisServer, own_replies: Replies,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """MANY threads wait at once; each gets its own answer, answered in reverse order, and
    Redis sees one connection for all of them (the reader) besides this test's own."""
    monkeypatch.setattr(rpc, "get_replies", lambda: own_replies)
    fake = FakeSender()
    monkeypatch.setattr(rpc, "send_rpc", fake)
    got: dict[int, Any] = {}

    def wait(n: int) -> None:
        got[n] = rpc.call(tasks.SEARCH, {"n": n}, timeout=PATIENCE)

    callers = [threading.Thread(target=wait, args=(n,), daemon=True) for n in range(MANY)]
    for caller in callers:
        caller.start()
    wait_for(lambda: own_replies.waiting() == MANY, PATIENCE, f"{MANY} waiters")
    client = own_redis.client()
    while_waiting = clients(client)
    for _, channel, request_id, payload in reversed(fake.sent):
        deliver(client, channel, request_id, {"result": f"answer {payload['n']}"})
    for caller in callers:
        caller.join(timeout=PATIENCE)
    assert got == {n: f"answer {n}" for n in range(MANY)}
    assert sorted(while_waiting) == sorted(["", CLIENT_NAME])
    assert own_replies.waiting() == 0
    client.close()


GEVENT_WAITERS = textwrap.dedent("""
    from shared.platform.greenlets import patch_for_command

    assert patch_for_command(["treadle", "worker", "--pool", "runs"])

    import os
    import sys

    import gevent

    from shared.platform import rpc, tasks
    from shared.platform.replies import CLIENT_NAME, get_replies
    from shared.storage.redis import get_redis

    many = int(sys.argv[1])
    sent = []
    rpc.send_rpc = lambda name, channel, request_id, payload: sent.append(
        (channel, request_id, payload))
    calls = [gevent.spawn(rpc.call, tasks.SEARCH, {"n": n}, 60) for n in range(many)]
    for _ in range(3000):
        if get_replies().waiting() == many:
            break
        gevent.sleep(0.01)
    assert get_replies().waiting() == many, get_replies().waiting()
    threads = len(os.listdir("/proc/self/task"))
    # The reader connects on its own once the first caller waits: on a loaded machine it
    # may not have yet.
    for _ in range(1000):
        names = [entry.get("name", "") for entry in get_redis().client_list()]
        if CLIENT_NAME in names:
            break
        gevent.sleep(0.01)
    for channel, request_id, payload in reversed(sent):
        rpc.answer(channel, request_id, {"result": payload["n"]})
    assert [call.get(timeout=60) for call in calls] == list(range(many))
    print("threads", threads, "connections", len(names), "readers", names.count(CLIENT_NAME))
""")


def test_many_greenlets_wait_without_threads_or_connections(own_redis: RedisServer) -> None:
    """As in a runs worker: MANY greenlets each wait for their own answer, on no OS thread
    and no Redis connection of their own (the process's: its reader, and the pooled one its
    commands share). Patching is for a whole process, so it runs in one of its own."""
    done = subprocess.run([sys.executable, "-c", GEVENT_WAITERS, str(MANY)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TREADLE_REDIS_URL": own_redis.url})
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    counts = dict(zip(words[::2], map(int, words[1::2]), strict=True))
    assert counts["readers"] == 1
    assert counts["connections"] == 2
    # The main thread, and none per waiter (gevent may keep a thread or two of its own).
    assert counts["threads"] < 5


def test_a_waiter_is_answered_across_a_redis_restart(own_redis: RedisServer,
                                                     own_replies: Replies) -> None:
    """The reader, blocked on the channel when Redis goes, reads again once it is back, and
    an answer pushed meanwhile reaches its waiter."""
    client = own_redis.client()
    with own_replies.expect() as waiter:
        wait_for(lambda: CLIENT_NAME in clients(client), PATIENCE, "the reader connected")
        own_redis.stop()
        own_redis.start()
        deliver(client, own_replies.channel, waiter.request_id, {"result": "after"})
        assert waiter.wait(PATIENCE) == {"result": "after"}
    assert CLIENT_NAME in clients(client)
    client.close()
