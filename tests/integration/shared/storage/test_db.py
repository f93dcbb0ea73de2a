"""`shared.storage.db` on a real Postgres: a batched transaction that fails writes nothing
and leaves its connection fit for the next caller; statements sent in one trip are one
transaction, their values whole; a busy pool is waited for, an absent Postgres is not."""
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from shared.storage import db
from tests.conftest import free_port
from tests.support.pool import pool_on


@pytest.fixture
def table(database_url: str) -> Iterator[sql.Identifier]:
    name = sql.Identifier(f"batched_{uuid.uuid4().hex}")
    with db.unit_of_work() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(name))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (0)").format(name))
    yield name
    with db.unit_of_work() as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(name))


def test_a_failed_batch_writes_nothing_and_leaves_its_connection_fit(
        table: sql.Identifier) -> None:
    """Statements run past psycopg's prepare threshold on every pooled connection, half of
    the batches failing on a unique index (as an active run's refusal does) after a write
    of their own: that write is undone, and each later use of a connection, batched or not,
    still finds the statements it runs."""
    read = sql.SQL("SELECT id FROM {} WHERE id = %s").format(table).as_string()
    insert = sql.SQL("INSERT INTO {} VALUES (%s) RETURNING id").format(table).as_string()
    count = sql.SQL("SELECT count(*) AS n FROM {}").format(table).as_string()
    refused = 0
    for attempt in range(1, 201):
        try:
            with db.batched() as conn:
                conn.execute(read, (0,)).fetchone()
                conn.execute(insert, (-attempt,))
                conn.execute(insert, (0 if attempt % 2 else attempt,))
        except psycopg.errors.UniqueViolation:
            refused += 1
        with db.reading() as conn:
            assert conn.execute(read, (0,)).fetchone() == {"id": 0}
            assert conn.execute(read, (-attempt,)).fetchone() == (
                None if attempt % 2 else {"id": -attempt})
    assert refused == 100
    with db.reading() as conn:
        assert conn.execute(count).fetchone() == {"n": 1 + 2 * 100}


# One connection, and a 50 ms wait while Postgres is away.
ONE_CONNECTION = {"TREADLE_DB_POOL_MIN": "1", "TREADLE_DB_POOL_MAX": "1",
                  "TREADLE_DB_POOL_TIMEOUT_SECONDS": "0.05",
                  "TREADLE_DB_POOL_BUSY_TIMEOUT_SECONDS": "10"}


def test_statements_in_one_trip_are_one_transaction_with_their_values_whole(
        database_url: str) -> None:
    name = sql.Identifier(f"one_trip_{uuid.uuid4().hex}")
    with db.unit_of_work() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, body jsonb, note text, "
                             "at double precision)").format(name))
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s) RETURNING *").format(name)
    count = sql.SQL("UPDATE {} SET at = at + 1 WHERE note = ANY(%s)").format(name)
    read = sql.SQL("SELECT * FROM {} WHERE id = %s").format(name)
    # What quoting could break: quotes, backslashes, percent signs, placeholders, non-ASCII.
    awkward = "it's 100% \\ %s %(x)s é ; -- \n"
    body = {"text": awkward, "list": [1, None, "\u2028"]}
    try:
        assert db.in_one_trip([(insert, [1, Jsonb(body), awkward, 1.5]),
                               (count, [[awkward, "other"]]), (read, [1]), (read, [2])]) == [
            {"id": 1, "body": body, "note": awkward, "at": 1.5}, None,
            {"id": 1, "body": body, "note": awkward, "at": 2.5}, None]
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.in_one_trip([(insert, [2, None, None, 0.0]), (insert, [1, None, None, 0.0])])
        with db.reading() as conn:
            assert [row["id"] for row in conn.execute(
                sql.SQL("SELECT id FROM {}").format(name)).fetchall()] == [1]
    finally:
        with db.unit_of_work() as conn:
            conn.execute(sql.SQL("DROP TABLE {}").format(name))


def test_a_busy_pool_is_waited_for(database_url: str) -> None:
    held = threading.Event()

    def hold() -> None:
        with db.reading() as conn:
            conn.execute("SELECT 1")
            held.set()
            time.sleep(0.5)

    with pool_on(TREADLE_DATABASE_URL=database_url, **ONE_CONNECTION):
        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(5)
        began = time.monotonic()
        with db.reading() as conn:
            assert conn.execute("SELECT 2 AS two").fetchone() == {"two": 2}
        holder.join()
        # Ten times the wait given to an absent Postgres: this caller queued for it.
        assert time.monotonic() - began > 0.3


def test_an_absent_postgres_is_not_waited_for() -> None:
    absent = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with pool_on(TREADLE_DATABASE_URL=absent, **ONE_CONNECTION):
        began = time.monotonic()
        with pytest.raises(PoolTimeout), db.reading():
            pass
        assert time.monotonic() - began < 5
