"""One reader of rpc answers per process, so a caller waiting for one holds no connection.

A caller (`shared.platform.rpc.call`) registers a waiter under a fresh request id and sends
its task naming the process's reply channel and that id; the worker pushes the answer, with
the id, onto the channel (`deliver`); the process's one reader pops what arrives, a batch at a
time, and hands each answer to its waiter. So the thousands of runs of a runs worker waiting
for searches or code hold one Redis connection between them, not one each, and each waits as
what it already is: a greenlet under gevent (the API, the runs pool), where these threads,
locks and events are gevent's; a thread elsewhere (tests, tools).

The channel is a list rather than a pub/sub channel, so an answer pushed while the reader is
away (reconnecting after a Redis restart, or not started yet) waits there for it. Each push
renews the list's TTL: the answers of a process that died expire a little after the last one.
When Redis goes away the reader reconnects with backoff; an answer lost with Redis (or with
the reader's connection in the middle of a pop) is one its caller times out on.
"""
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.config import get_settings
from shared.storage import redis_keys

log = logging.getLogger(__name__)

# How long a channel outlives its last answer: its reader normally empties it at once, so
# only the answers of a process gone (or too late for their callers) wait this long.
REPLY_TTL_SECONDS = 60
# Answers taken per read once one has come.
BATCH = 500
# A blocking pop returns empty this often, within the socket timeout, so a connection that
# died silently is found out and replaced.
BLOCK_SECONDS = 4.0
SOCKET_TIMEOUT = 5.0
# The wait after a failure, doubled after each further one up to the cap.
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 2.0
# The reader's connection's name in CLIENT LIST.
CLIENT_NAME = "treadle-replies"


def deliver(client: Redis, channel: str, request_id: str, answer: dict[str, Any]) -> None:
    """Push `answer` to the caller waiting on `channel` under `request_id`."""
    pipe = client.pipeline()
    pipe.rpush(channel, json.dumps({"id": request_id, "answer": answer}))
    pipe.expire(channel, REPLY_TTL_SECONDS)
    pipe.execute()


class Waiter:
    """One caller's wait for the answer sent under its request id."""

    def __init__(self) -> None:
        self.request_id = uuid.uuid4().hex
        self._answer: dict[str, Any] | None = None
        self._answered = threading.Event()

    def hand(self, answer: dict[str, Any]) -> None:
        self._answer = answer
        self._answered.set()

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """The answer, or None when none came within `timeout` seconds."""
        return self._answer if self._answered.wait(timeout) else None


class Replies:
    """A process's reply channel, the callers waiting on it, and its reader."""

    def __init__(self, redis_url: str) -> None:
        self.channel = redis_keys.new_process_replies()
        self._client = Redis.from_url(
            redis_url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0), client_name=CLIENT_NAME)
        self._lock = threading.Lock()
        self._waiters: dict[str, Waiter] = {}
        self._started = False
        self._closed = False

    @contextmanager
    def expect(self) -> Iterator[Waiter]:
        """A waiter registered for the length of the block: send its request id inside."""
        waiter = Waiter()
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._read, name="rpc-replies", daemon=True).start()
            self._waiters[waiter.request_id] = waiter
        try:
            yield waiter
        finally:
            with self._lock:
                del self._waiters[waiter.request_id]

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def close(self) -> None:
        """Stop the reader and drop its connection."""
        self._closed = True
        with suppress(RedisError):
            self._client.connection_pool.disconnect()

    def _read(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._closed:
            try:
                popped: Any = self._client.blpop([self.channel], timeout=BLOCK_SECONDS)
                if popped is not None:
                    self._hand([popped[1]])
                    self._drain()
                if backoff != FIRST_BACKOFF:
                    log.info("rpc reply reader reading again")
                    backoff = FIRST_BACKOFF
            except Exception as error:
                # Whatever it was (Redis gone, or closed under it), the reader lives on.
                if self._closed:
                    break
                if backoff == FIRST_BACKOFF:
                    log.warning("rpc reply reader lost Redis, reading again: %r", error)
                time.sleep(backoff)
                backoff = min(2 * backoff, MAX_BACKOFF)

    def _drain(self) -> None:
        """Take what else is there, a batch per round trip (LPOP with a count: Redis 6.2),
        before blocking again."""
        while True:
            more: Any = self._client.lpop(self.channel, BATCH)
            if not more:
                return
            self._hand(more)
            if len(more) < BATCH:
                return

    def _hand(self, raw_answers: list[bytes]) -> None:
        for raw in raw_answers:
            try:
                reply = json.loads(raw)
                request_id, answer = reply["id"], reply["answer"]
            except (ValueError, TypeError, KeyError):
                log.warning("rpc reply reader dropped a malformed answer: %r", raw[:200])
                continue
            with self._lock:
                waiter = self._waiters.get(request_id)
            # None when its caller gave up waiting: the answer came too late for anyone.
            if waiter is not None:
                waiter.hand(answer)


_replies: Replies | None = None
_replies_pid = 0
_replies_lock = threading.Lock()


def get_replies() -> Replies:
    """This process's replies, made on first use: gunicorn forks its workers after importing
    the app, so each worker makes its own (its own channel), after gevent has patched it."""
    global _replies, _replies_pid
    with _replies_lock:
        if _replies is None or _replies_pid != os.getpid():
            _replies, _replies_pid = Replies(get_settings().redis_url), os.getpid()
        return _replies
