"""Request and answer over Celery and Redis, for work only a worker pool may do.

The API and the runs pool may not open the vector engine, so they send a task carrying a
reply key and block on that key; the pool that owns the engine pushes the answer there.
The caller waits as a greenlet in the API and the runs pool (both run under gevent), on a
connection of the waiting pool (`get_waiting_redis`), never one of the shared ones.
Keys: `reply:rpc:<uuid>`, expiring a minute after the answer.
"""
import json
import time
from typing import Any

from shared.errors import InvalidRequestError, ServiceUnavailableError
from shared.platform.tasks import send_rpc
from shared.storage import redis_keys
from shared.storage.redis import get_redis, get_waiting_redis

REPLY_TTL_SECONDS = 60
BLOCK_SLICE_SECONDS = 4.0


def call(task: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
    reply = redis_keys.new_rpc_reply()
    send_rpc(task, reply, payload)
    # Blocking reads stay under the client's socket timeout (5 s), so calls that take
    # longer (code in the sandbox) wait in slices until the deadline.
    deadline = time.monotonic() + timeout
    answered = None
    while answered is None and (left := deadline - time.monotonic()) > 0:
        answered = get_waiting_redis().blpop([reply], timeout=min(left, BLOCK_SLICE_SECONDS))
    if answered is None:
        raise ServiceUnavailableError(f"The {task} worker did not answer in time; retry soon.")
    result = json.loads(answered[1])
    if "invalid_request" in result:
        raise InvalidRequestError(result["invalid_request"], param=result.get("param"))
    if "error" in result:
        raise ServiceUnavailableError(result["error"])
    return result["result"]


def answer(reply: str, result: dict[str, Any]) -> None:
    pipe = get_redis().pipeline()
    pipe.rpush(reply, json.dumps(result))
    pipe.expire(reply, REPLY_TTL_SECONDS)
    pipe.execute()
