"""Postgres access: one connection pool per process and a unit of work per transaction."""
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.config import get_settings

Conn = Connection[dict[str, Any]]

_pool: ConnectionPool[Any] | None = None


def get_pool() -> ConnectionPool[Any]:
    """Open the pool lazily so each forked server or worker process gets its own sockets."""
    global _pool
    if _pool is None:
        settings = get_settings()
        _pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            # Autocommit, so a lone read is one round trip; writes open a transaction.
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=True,
            timeout=10,
            name="treadle",
        )
    return _pool


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


@contextmanager
def unit_of_work() -> Iterator[Conn]:
    """A transaction that commits when the block ends cleanly and rolls back otherwise."""
    with get_pool().connection() as conn, conn.transaction():
        yield cast(Conn, conn)


@contextmanager
def reading() -> Iterator[Conn]:
    """A connection for reads outside any transaction: each statement stands alone."""
    with get_pool().connection() as conn:
        yield cast(Conn, conn)


def ping(conn: Conn | None = None) -> None:
    """Prove the database answers, on `conn` or a pooled connection; raises if it does not."""
    if conn is not None:
        conn.execute("SELECT 1")
        return
    with unit_of_work() as owned:
        owned.execute("SELECT 1")
