"""Request and answer (`shared.platform.rpc`) over a real Redis.

No worker runs here: the Celery sender is replaced by one that hands the request to a thread
playing the worker, which answers on the reply key through `rpc.answer`.
"""
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis import Redis

from shared.errors import InvalidRequestError, ServiceUnavailableError
from shared.platform import rpc, tasks
from shared.storage import redis_keys
from shared.storage.redis import get_redis

Worker = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@dataclass
class FakeSender:
    """Records each request and answers it from a thread after `delay` seconds."""
    worker: Worker
    delay: float = 0.0
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def __call__(self, name: str, reply: str, payload: dict[str, Any]) -> None:
        self.sent.append((name, reply, payload))
        thread = threading.Thread(target=self._answer, args=(reply, payload), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _answer(self, reply: str, payload: dict[str, Any]) -> None:
        time.sleep(self.delay)
        result = self.worker(reply, payload)
        if result is not None:
            rpc.answer(reply, result)


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return get_redis()


@pytest.fixture
def sender(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeSender]]:
    made: list[FakeSender] = []

    def install(worker: Worker, delay: float = 0.0) -> FakeSender:
        fake = FakeSender(worker, delay)
        monkeypatch.setattr(rpc, "send_rpc", fake)
        made.append(fake)
        return fake

    yield install
    for fake in made:
        for thread in fake.threads:
            thread.join(timeout=10)


def test_call_returns_the_answer(redis: Redis, sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda reply, payload: {"result": {"echo": payload["query"], "hits": [1]}})
    assert rpc.call(tasks.SEARCH, {"query": "treadle"}, timeout=10) == {
        "echo": "treadle", "hits": [1]}
    [(name, reply, payload)] = fake.sent
    assert name == tasks.SEARCH and payload == {"query": "treadle"}
    assert reply.startswith("reply:rpc:")
    # The answer was taken off its key.
    assert not redis.exists(reply)


def test_call_waits_for_a_late_answer(sender: Callable[..., FakeSender]) -> None:
    sender(lambda reply, payload: {"result": "late"}, delay=0.5)
    assert rpc.call(tasks.RUN_CODE, {}, timeout=10) == "late"


def test_each_call_has_its_own_reply_key(sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda reply, payload: {"result": payload["n"]})
    assert [rpc.call(tasks.SEARCH, {"n": n}, timeout=10) for n in range(3)] == [0, 1, 2]
    assert len({reply for _, reply, _ in fake.sent}) == 3


def test_a_null_result_is_a_result(sender: Callable[..., FakeSender]) -> None:
    sender(lambda reply, payload: {"result": None})
    assert rpc.call(tasks.SEARCH, {}, timeout=10) is None


def test_invalid_request_carries_its_param(sender: Callable[..., FakeSender]) -> None:
    sender(lambda reply, payload: {"invalid_request": "Bad filter.", "param": "filters"})
    with pytest.raises(InvalidRequestError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.message == "Bad filter."
    assert info.value.param == "filters"
    assert info.value.status == 400


def test_invalid_request_without_a_param(sender: Callable[..., FakeSender]) -> None:
    sender(lambda reply, payload: {"invalid_request": "No."})
    with pytest.raises(InvalidRequestError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.param is None


def test_an_error_is_service_unavailable(sender: Callable[..., FakeSender]) -> None:
    sender(lambda reply, payload: {"error": "The vector engine is down."})
    with pytest.raises(ServiceUnavailableError) as info:
        rpc.call(tasks.SEARCH, {}, timeout=10)
    assert info.value.message == "The vector engine is down."
    assert info.value.status == 503


def test_no_answer_in_time_is_service_unavailable(sender: Callable[..., FakeSender]) -> None:
    fake = sender(lambda reply, payload: None)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as info:
        rpc.call(tasks.RUN_CODE, {}, timeout=0.3)
    assert time.monotonic() - started < 5
    assert tasks.RUN_CODE in info.value.message
    assert len(fake.sent) == 1


def test_an_answer_after_the_deadline_expires(redis: Redis,
                                              sender: Callable[..., FakeSender]) -> None:
    """The late answer is not read by anyone, and its key does not outlive the reply TTL."""
    fake = sender(lambda reply, payload: {"result": "too late"}, delay=0.6)
    with pytest.raises(ServiceUnavailableError):
        rpc.call(tasks.SEARCH, {}, timeout=0.2)
    fake.threads[0].join(timeout=10)
    [(_, reply, _)] = fake.sent
    late: Any = redis.lindex(reply, 0)
    assert json.loads(late) == {"result": "too late"}
    assert 0 < redis.ttl(reply) <= rpc.REPLY_TTL_SECONDS


def test_answer_pushes_json_with_a_ttl(redis: Redis) -> None:
    reply = redis_keys.new_rpc_reply()
    rpc.answer(reply, {"result": {"hits": []}})
    assert 0 < redis.ttl(reply) <= rpc.REPLY_TTL_SECONDS
    pushed: Any = redis.lpop(reply)
    assert json.loads(pushed) == {"result": {"hits": []}}
