"""Every task Treadle sends: its name, its queue, a typed sender; and the Celery app.

Tasks carry ids only (rpc tasks: a reply channel, a request id and a JSON payload); every
task reloads state from Postgres and checks it first, so a redelivered or duplicated task is
harmless. Results flow through each run's event stream or an rpc reply channel, so there is
no result backend. Workers declare each task with `@app.task(name=<the constant here>)`.
"""
from contextlib import suppress
from typing import Any

from celery import Celery
from kombu import Queue

from shared.config import get_settings

RUNS_QUEUE = "runs"
QUEUES = (RUNS_QUEUE, "ingest", "search", "sandbox", "timers")

# Each name's prefix is its queue (see TASK_ROUTES).
EXECUTE_RUN = "runs.execute"
COUNT_INPUT_TOKENS = "runs.count_input_tokens"
INGEST_FILE = "ingest.file"
DELETE_INDEXED_FILE = "ingest.delete_file"
DELETE_INDEXED_STORE = "ingest.delete_store"
REFRESH_ATTRIBUTES = "ingest.attributes"
SEARCH = "search.query"
RUN_CODE = "sandbox.execute"
EXPIRE_DUE_RUNS = "timers.expire_due"
RECOVER_STALLED_RUNS = "timers.recover_stalled"

TICK_EXPIRES_SECONDS = 5.0

TASK_ROUTES = {
    "runs.*": {"queue": RUNS_QUEUE},
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
        task_default_queue=RUNS_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # Celery keeps a backend per thread unless told it is thread safe; under gevent that
        # made a new one for every task's greenlet (4% of a runs worker's CPU, 2% of an API
        # process'). There is none to share here, so one serves every greenlet.
        result_backend_thread_safe=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=900,
        task_time_limit=960,
        broker_connection_retry_on_startup=True,
        # A worker outlives any broker outage: it reconnects for as long as it takes (by
        # default it gives up, and exits, after 100 tries).
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # Sending a task rides out a broker restart as the Redis client does (about 5 s)
        # rather than kombu's default 0.6 s; past that the run waits for recovery.
        task_publish_retry_policy={"max_retries": 6, "interval_start": 0.1,
                                   "interval_step": 0.5, "interval_max": 1.0},
        worker_hijack_root_logger=False,
        # Task events cost a runs worker about 7% of its CPU. Flower turns them on in every
        # worker while it watches (it broadcasts enable_events every few seconds).
        worker_send_task_events=False,
        # By module path: the core names the doors' task modules, it does not import them.
        include=[f"workers.{pool}.tasks" for pool in ("runs", "timers", "ingest", "sandbox")],
        # A tick not started within a few periods is dropped (a later one does its work),
        # so ticks sent while the timers could not run them do not pile up; a busy machine
        # that starts them a little late still runs them.
        beat_schedule={
            "expire-due-runs": {"task": EXPIRE_DUE_RUNS, "schedule": 1.0,
                                "options": {"expires": TICK_EXPIRES_SECONDS}},
            "recover-stalled-runs": {"task": RECOVER_STALLED_RUNS, "schedule": 2.0,
                                     "options": {"expires": TICK_EXPIRES_SECONDS}},
        },
    )
    return app


app = _make_app()


def send_run(run_id: str, thread_id: str | None = None) -> None:
    """The run's task. `thread_id`: the thread of a run sent `queued`, so the worker takes
    the thread's lease without reading the run first. A run left in progress is sent
    without it: the worker reads its status, and takes it over only once Redis has been up
    for a lease period, before it touches the lease (`shared.runs.leases.may_take_over`)."""
    app.send_task(EXECUTE_RUN, args=[run_id, thread_id])


def consumes(worker: Any, queue: str) -> bool:
    """Whether the worker a `worker_ready` signal names (its consumer; None outside a worker)
    takes tasks from `queue`: every task module is loaded in every pool."""
    return worker is None or queue in {
        declared.name for declared in worker.app.amqp.queues.consume_from.values()}


def depth(connection: Any, queue: str) -> int | None:
    """Messages waiting in `queue` on a broker `connection` (LLEN on Redis, a passive
    declare on RabbitMQ); None for a RabbitMQ queue no worker has declared yet."""
    # Redis keeps no key for an empty queue, so "unknown" there means empty.
    unknown = 0 if connection.transport.driver_type == "redis" else None
    channel = connection.channel()
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:
        # RabbitMQ closes the channel when a passive declare names no queue.
        return unknown
    finally:
        with suppress(Exception):
            channel.close()


def waiting_runs() -> int | None:
    """Run tasks waiting in the runs queue; None when the broker cannot tell."""
    try:
        with app.pool.acquire(block=True, timeout=5) as connection:
            return depth(connection, RUNS_QUEUE)
    except Exception:
        return None


def send_ingest(vector_store_id: str, file_id: str, generation: int) -> None:
    app.send_task(INGEST_FILE, args=[vector_store_id, file_id, generation])


def send_delete_indexed_file(vector_store_id: str, file_id: str) -> None:
    app.send_task(DELETE_INDEXED_FILE, args=[vector_store_id, file_id])


def send_delete_indexed_store(vector_store_id: str) -> None:
    app.send_task(DELETE_INDEXED_STORE, args=[vector_store_id])


def send_refresh_attributes(vector_store_id: str, file_id: str) -> None:
    app.send_task(REFRESH_ATTRIBUTES, args=[vector_store_id, file_id])


RPC_TASKS = (SEARCH, RUN_CODE, COUNT_INPUT_TOKENS)


def send_rpc(name: str, channel: str, request_id: str, payload: dict[str, Any]) -> None:
    """An rpc task (one of RPC_TASKS): the worker answers `request_id` on the caller's reply
    `channel` (see `rpc`)."""
    assert name in RPC_TASKS, name
    app.send_task(name, args=[channel, request_id, payload])
