"""Figures about the running platform, read on demand by `treadle status`, `GET /metrics` and
`GET /v1/status` (shared/platform/health.py)."""
from typing import Any

from shared.platform.tasks import QUEUES, app, depth
from shared.runs import repository as runs
from shared.storage.db import get_pool, ping
from shared.storage.redis import get_redis
from shared.vector_stores import repository as vector_stores

# A scrape or a status check waits this long for a database connection, not the pool's 10 s.
POSTGRES_WAIT_SECONDS = 3.0


def _reading() -> Any:
    return get_pool().connection(timeout=POSTGRES_WAIT_SECONDS)


def runs_by_status() -> dict[str, int]:
    # One pass over a narrow column, once per scrape: cheap next to counting every
    # transition in every process that makes one.
    with _reading() as conn:
        return runs.count_by_status(conn)


def ingest_backlog() -> int:
    with _reading() as conn:
        return vector_stores.count_indexing(conn)


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per queue (LLEN on Redis, a passive declare on RabbitMQ); None for a
    RabbitMQ queue no worker has declared yet."""
    with app.connection_for_read() as connection:
        return {name: depth(connection, name) for name in QUEUES}


def workers_online(timeout: float = 1.0) -> list[str]:
    """Worker names (pool@host) that answered a ping within `timeout`."""
    replies: Any = app.control.inspect(timeout=timeout).ping() or {}
    return sorted(replies)


def ping_broker() -> None:
    """Raise unless the broker takes a connection."""
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


def check_postgres() -> str:
    try:
        with _reading() as conn:
            ping(conn)
        return "ok"
    except Exception as exc:
        return f"unreachable: {exc}"


def check_redis() -> str:
    try:
        get_redis().ping()
        return "ok"
    except Exception as exc:
        return f"unreachable: {exc}"


def check_broker() -> str:
    try:
        ping_broker()
        return "ok"
    except Exception as exc:
        return f"unreachable: {exc}"
