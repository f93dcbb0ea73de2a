"""Postgres access: one connection pool per process and a unit of work per transaction.

Postgres may go away for a while (a restart, a failover). While it is away a caller waits
at most `db_pool_timeout_seconds` for a connection before the pool's PoolTimeout (the API
answers 503 at once rather than holding requests). A pool that is only busy (a burst of
requests, every connection in use, Postgres answering) is a queue, not an outage: its
callers wait their turn up to `db_pool_busy_timeout_seconds`. A runs worker waits longer
either way (`set_pool_timeout`), because its thousands of runs share the pool and one
finding every connection busy must wait its turn, not fail. Every connection is checked as
it leaves the pool, so one that died with the old server is replaced rather than handed
out, and while callers wait the pool tries to connect about once a second, so it serves
again within a second or two of the server's return. The check costs no round trip
(`_check`).
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from time import monotonic
from typing import Any, cast

import psycopg
from psycopg import Connection, sql
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.config import get_settings
from shared.storage.batch import Batch

Conn = Connection[dict[str, Any]]
# A statement and its parameters.
Statement = tuple[str | sql.Composed, Sequence[Any]]
# Postgres away or out of connections (PoolTimeout is one): worth trying again later.
UNAVAILABLE = (psycopg.OperationalError,)
# psycopg_pool backs off 1 s, then 2 s, ... between tries to connect, until this many
# seconds have passed; then it gives up, and the next caller that waits starts afresh. Kept
# short so the wait after Postgres returns stays short.
_RECONNECT_SECONDS = 2.0

_pool: "_Pool | None" = None
_timeout: float | None = None


class _Sighting:
    """Whether Postgres was last seen away: a try to connect failed, or a pooled connection
    was found closed by the server, and no connection has been made since."""
    away = False


_postgres = _Sighting()


class _Connection(psycopg.Connection[Any]):
    """A connection whose making tells whether Postgres is there."""

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            conn = super().connect(*args, **kwargs)
        except psycopg.OperationalError:
            _postgres.away = True
            raise
        _postgres.away = False
        return conn


class _Pool(ConnectionPool[Any]):
    """A pool whose callers wait `away_timeout` for a connection while Postgres is away, and
    up to the pool's timeout while it is only busy."""

    def __init__(self, *args: Any, away_timeout: float, **kwargs: Any) -> None:
        self.away_timeout = away_timeout
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                return super().getconn(min(self.away_timeout, deadline - monotonic()))
            except PoolTimeout:
                if _postgres.away or monotonic() >= deadline:
                    raise


def _check(conn: Connection[Any]) -> None:
    """Raise when a pooled connection is dead, without a round trip. A server that went
    away (a restart, a failover, a terminated backend) closed the socket, mostly after a
    last word: libpq reads what is there without waiting (the socket is non-blocking), and
    a second read meets the close, which marks the connection bad. A query to prove it
    (the pool's own check) costs every checkout a round trip, a fifth of a run's."""
    pgconn = conn.pgconn
    if conn.closed or conn.broken:
        _postgres.away = True
        raise psycopg.OperationalError("the connection is closed")
    pgconn.consume_input()
    pgconn.consume_input()
    if pgconn.status != ConnStatus.OK:
        _postgres.away = True
        raise psycopg.OperationalError("the server closed the connection")


def set_pool_timeout(seconds: float) -> None:
    """How long this process's callers wait for a pooled connection, Postgres away or busy
    (before the pool opens)."""
    global _timeout
    _timeout = seconds


def get_pool() -> ConnectionPool[Any]:
    """Open the pool lazily so each forked server or worker process gets its own sockets."""
    global _pool
    if _pool is None:
        settings = get_settings()
        _pool = _Pool(
            settings.database_url,
            connection_class=_Connection,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            # Autocommit, so a lone read is one round trip; writes open a transaction.
            # connect_timeout: a server that does not answer at all holds no pool worker
            # for long.
            kwargs={"row_factory": dict_row, "autocommit": True, "connect_timeout": 2},
            open=True,
            away_timeout=settings.db_pool_timeout_seconds if _timeout is None else _timeout,
            timeout=settings.db_pool_busy_timeout_seconds if _timeout is None else _timeout,
            check=_check,
            reconnect_timeout=_RECONNECT_SECONDS,
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
def batched() -> Iterator[Conn]:
    """A transaction whose statements go out together (`shared.storage.batch`): when a
    result is first read and when the block ends, so writes that need nothing read in
    between cost one round trip and one write, and each read in between one more. Commits
    when the block ends cleanly; rolls back and raises otherwise, as a unit of work does.
    What it yields stands in for a connection: `execute`, and of its result `fetchone`,
    `fetchall`, `rowcount` and iteration."""
    with get_pool().connection() as conn:
        batch = Batch(conn)
        try:
            yield cast(Conn, batch)
            batch.commit()
        except BaseException:
            # Left in the failed transaction (or broken: then the pool drops it).
            with suppress(psycopg.Error):
                batch.rollback()
            raise


def in_one_trip(statements: list[Statement]) -> list[dict[str, Any] | None]:
    """Run `statements` as one transaction in one round trip and one write (`batched`); the
    first row each returned (None for one that returns no rows)."""
    with batched() as batch:
        results = [batch.execute(query, params) for query, params in statements]
    return [result.fetchone() for result in results]


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
