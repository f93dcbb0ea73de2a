"""Tasks of the timers pool: expire runs left in requires_action, recover stalled runs.

Deadlines live in Postgres (`runs.expires_at`); the Redis sorted set `deadlines:runs` is
only an index of them, rebuilt from Postgres whenever a timers worker starts.
"""
from typing import Any

from celery.signals import worker_ready

from shared.clock import now
from shared.config import get_settings
from shared.objects import RUN
from shared.platform import tasks
from shared.platform.tasks import app
from shared.runs import events
from shared.runs import states as run_states
from shared.runs.leases import is_held
from shared.storage import redis_keys
from shared.storage.db import unit_of_work
from shared.storage.redis import get_redis


@worker_ready.connect
def rebuild_deadlines(sender: Any = None, **kwargs: Any) -> None:
    if sender is not None and "timers" not in {q.name for q in sender.app.amqp.queues
                                               .consume_from.values()}:
        return
    with unit_of_work() as conn:
        rows = conn.execute(
            "SELECT id, expires_at FROM runs WHERE status = 'requires_action'"
        ).fetchall()
    redis = get_redis()
    pipe = redis.pipeline()
    pipe.delete(redis_keys.RUN_DEADLINES)
    if rows:
        pipe.zadd(redis_keys.RUN_DEADLINES, {r["id"]: r["expires_at"] for r in rows})
    pipe.execute()


@app.task(name=tasks.EXPIRE_DUE_RUNS)
def expire_due() -> int:
    redis = get_redis()
    members: Any = redis.zrangebyscore(redis_keys.RUN_DEADLINES, "-inf", now())
    due = [m.decode() for m in members]
    expired = 0
    for run_id in due:
        with unit_of_work() as conn:
            run = conn.execute("SELECT expires_at FROM runs WHERE id = %s", (run_id,)).fetchone()
            moved = None
            if run is not None and run["expires_at"] is not None and run["expires_at"] <= now():
                moved = run_states.move(conn, "runs", run_id, "expired")
                if moved is not None:
                    run_states.settle_run_children(conn, run_id, "expired")
        if run is None or moved is not None or run["expires_at"] is None:
            redis.zrem(redis_keys.RUN_DEADLINES, run_id)
        if moved is not None:
            expired += 1
            events.publish(run_id, [("thread.run.expired", RUN.dump(moved)),
                                    (events.DONE, "[DONE]")])
    return expired


@app.task(name=tasks.RECOVER_STALLED_RUNS)
def recover_stalled() -> int:
    """Requeue runs whose worker died (no lease) or whose task was never delivered."""
    lease = get_settings().run_lease_seconds
    with unit_of_work() as conn:
        rows = conn.execute(
            "SELECT id, thread_id, status, created_at FROM runs "
            "WHERE status IN ('queued', 'in_progress', 'cancelling')"
        ).fetchall()
    redis = get_redis()
    requeued = 0
    for row in rows:
        if row["status"] == "queued" and now() - row["created_at"] < 2 * lease:
            continue
        if is_held(row["thread_id"]):
            continue
        # One requeue per lease period, however often this task runs.
        if redis.set(redis_keys.run_recovery(row['id']), "1", nx=True, ex=lease):
            tasks.send_run(row["id"])
            requeued += 1
    return requeued
