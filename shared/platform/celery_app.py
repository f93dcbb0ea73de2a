"""The Celery app: queues, routes and task settings, shared by senders and workers.

Tasks carry ids only; every task reloads state from Postgres and checks it first, so a
redelivered or duplicated task is harmless. Results flow through each run's event stream,
so there is no result backend.
"""
from celery import Celery
from kombu import Queue

from shared.config import get_settings

QUEUES = ("runs", "ingest", "search", "sandbox", "timers")

TASK_ROUTES = {
    "runs.*": {"queue": "runs"},
    "ingest.*": {"queue": "ingest"},
    "search.*": {"queue": "search"},
    "timers.*": {"queue": "timers"},
    "sandbox.*": {"queue": "sandbox"},
}


class _Connections:
    """Read when Celery first loads its configuration, not at import, so the settings a
    process ends up with (tests change them after importing) are the ones used."""

    @property
    def broker_url(self) -> str:
        settings = get_settings()
        return settings.broker_url or settings.redis_url


def _make_app() -> Celery:
    app = Celery("treadle")
    app.config_from_object(_Connections())
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=TASK_ROUTES,
        task_default_queue="runs",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=900,
        task_time_limit=960,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Task events cost a runs worker about 7% of its CPU. Flower turns them on in every
        # worker while it watches (it broadcasts enable_events every few seconds).
        worker_send_task_events=False,
        include=["workers.runs", "workers.timers", "workers.indexing", "workers.sandbox"],
        beat_schedule={
            "expire-due-runs": {"task": "timers.expire_due", "schedule": 1.0},
            "recover-stalled-runs": {"task": "timers.recover_stalled", "schedule": 2.0},
        },
    )
    return app


app = _make_app()


def enqueue(name: str, *args: str) -> None:
    app.send_task(name, args=list(args))
