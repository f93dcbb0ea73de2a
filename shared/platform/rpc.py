"""Request and answer over Celery and Redis, for work only a worker pool may do.

The API and the runs pool may not open the vector engine (nor run code), so they send a task
carrying the process's reply channel and a request id, and wait; the pool that does the work
pushes the answer onto that channel, and the process's one reply reader hands it to its
caller (`shared.platform.replies`). A waiting caller costs its greenlet (or thread) and no
Redis connection, however many wait at once.
"""
from typing import Any

from shared.errors import InvalidRequestError, ServiceUnavailableError
from shared.platform.replies import deliver, get_replies
from shared.platform.tasks import send_rpc
from shared.platform.turns import step_aside
from shared.storage.redis import get_redis


def call(task: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
    step_aside()
    replies = get_replies()
    with replies.expect() as waiter:
        send_rpc(task, replies.channel, waiter.request_id, payload)
        result = waiter.wait(timeout)
    if result is None:
        raise ServiceUnavailableError(f"The {task} worker did not answer in time; retry soon.")
    if "invalid_request" in result:
        raise InvalidRequestError(result["invalid_request"], param=result.get("param"))
    if "error" in result:
        raise ServiceUnavailableError(result["error"])
    return result["result"]


def answer(channel: str, request_id: str, result: dict[str, Any]) -> None:
    """Answer the call that sent `request_id` on `channel` (the task's first two arguments)
    with `{"result": ...}`, `{"invalid_request": ..., "param": ...}` or `{"error": ...}`."""
    deliver(get_redis(), channel, request_id, result)
