"""`shared.storage.db` on a real Postgres: a pipelined transaction that fails leaves its
connection fit for the next caller; a busy pool is waited for, an absent Postgres is not."""
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import PoolTimeout

from shared.config import get_settings
from shared.storage import db
from tests.conftest import free_port


@pytest.fixture
def table(database_url: str) -> Iterator[sql.Identifier]:
    name = sql.Identifier(f"pipelined_{uuid.uuid4().hex}")
    with db.unit_of_work() as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(name))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (0)").format(name))
    yield name
    with db.unit_of_work() as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(name))


def test_a_failed_pipeline_leaves_no_prepared_statement_behind(table: sql.Identifier) -> None:
    """Statements run past psycopg's prepare threshold on every pooled connection, half of
    the pipelines failing on a unique index (as an active run's refusal does): each later
    use of a connection, pipelined or not, still finds the statements it runs."""
    read = sql.SQL("SELECT id FROM {} WHERE id = %s").format(table).as_string()
    insert = sql.SQL("INSERT INTO {} VALUES (%s) RETURNING id").format(table).as_string()
    refused = 0
    for attempt in range(1, 201):
        try:
            with db.pipelined() as conn:
                conn.execute(read, (0,)).fetchone()
                conn.execute(insert, (0 if attempt % 2 else attempt,))
        except psycopg.errors.UniqueViolation:
            refused += 1
        with db.reading() as conn:
            assert conn.execute(read, (0,)).fetchone() == {"id": 0}
    assert refused == 100


@pytest.fixture
def own_pool(database_url: str, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Callable[[str], None]]:
    """Makes this process's pool anew, with one connection and a 50 ms wait while Postgres
    is away, on the database URL given; the suite's pool is back afterwards."""
    def make(url: str) -> None:
        db.close_pool()
        monkeypatch.setenv("TREADLE_DATABASE_URL", url)
        monkeypatch.setenv("TREADLE_DB_POOL_MIN", "1")
        monkeypatch.setenv("TREADLE_DB_POOL_MAX", "1")
        monkeypatch.setenv("TREADLE_DB_POOL_TIMEOUT_SECONDS", "0.05")
        monkeypatch.setenv("TREADLE_DB_POOL_BUSY_TIMEOUT_SECONDS", "10")
        get_settings.cache_clear()
    yield make
    db.close_pool()
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_busy_pool_is_waited_for(own_pool: Callable[[str], None], database_url: str) -> None:
    own_pool(database_url)
    held = threading.Event()

    def hold() -> None:
        with db.reading() as conn:
            conn.execute("SELECT 1")
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    began = time.monotonic()
    with db.reading() as conn:
        assert conn.execute("SELECT 2 AS two").fetchone() == {"two": 2}
    holder.join()
    # Ten times the wait given to an absent Postgres: this caller queued for the connection.
    assert time.monotonic() - began > 0.3


def test_an_absent_postgres_is_not_waited_for(own_pool: Callable[[str], None]) -> None:
    own_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    began = time.monotonic()
    with pytest.raises(PoolTimeout), db.reading():
        pass
    assert time.monotonic() - began < 5
