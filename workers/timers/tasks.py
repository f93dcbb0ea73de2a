"""Tasks of the timers pool: expire runs left in requires_action, recover stalled runs.

Deadlines live in Postgres (`runs.expires_at`); Redis keeps only an index of them, rebuilt
from Postgres when a timers worker starts and whenever Redis restarted (it may have come
back without it). What each sweep does to a run is `shared/runs/lifecycle`'s.

Each tick is sent with an expiry of a few periods (shared/platform/tasks.py), so while
Postgres or Redis is away the ticks that could not run in time are dropped, not queued up
behind each other.
"""
from typing import Any

from celery.signals import worker_ready

from shared.platform import tasks
from shared.platform.tasks import app
from shared.runs import lifecycle
from shared.storage.redis import server_run_id

# The Redis server (its run id) whose deadline index this process last rebuilt.
_rebuilt_for: str | None = None


def _rebuild_deadlines_if_new_redis() -> None:
    global _rebuilt_for
    server = server_run_id()
    if server != _rebuilt_for:
        lifecycle.rebuild_deadlines()
        _rebuilt_for = server


@worker_ready.connect
def rebuild_deadlines(sender: Any = None, **kwargs: Any) -> None:
    if tasks.consumes(sender, "timers"):
        _rebuild_deadlines_if_new_redis()


# A tick is acknowledged as it is received (late acknowledgement is the default): a lost one
# is replaced by the next, and no tick is left unacknowledged when the broker goes away, where
# kombu's restore of unacknowledged messages over the lost Redis connection can fail and take
# the whole worker down ("'NoneType' object has no attribute 'hostname'").
@app.task(name=tasks.EXPIRE_DUE_RUNS, acks_late=False)
def expire_due() -> int:
    _rebuild_deadlines_if_new_redis()
    return lifecycle.expire_due()


@app.task(name=tasks.RECOVER_STALLED_RUNS, acks_late=False)
def recover_stalled() -> int:
    return lifecycle.recover_stalled()
