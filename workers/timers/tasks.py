"""Tasks of the timers pool: expire runs left in requires_action, recover stalled runs.

Deadlines live in Postgres (`runs.expires_at`); Redis keeps only an index of them, rebuilt
from Postgres whenever a timers worker starts. What each sweep does to a run is
`shared/runs/lifecycle`'s.
"""
from typing import Any

from celery.signals import worker_ready

from shared.platform import tasks
from shared.platform.tasks import app
from shared.runs import lifecycle


@worker_ready.connect
def rebuild_deadlines(sender: Any = None, **kwargs: Any) -> None:
    if sender is not None and "timers" not in {q.name for q in sender.app.amqp.queues
                                               .consume_from.values()}:
        return
    lifecycle.rebuild_deadlines()


@app.task(name=tasks.EXPIRE_DUE_RUNS)
def expire_due() -> int:
    return lifecycle.expire_due()


@app.task(name=tasks.RECOVER_STALLED_RUNS)
def recover_stalled() -> int:
    return lifecycle.recover_stalled()
