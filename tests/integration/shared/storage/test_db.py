"""`shared.storage.db` on a real Postgres: a pipelined transaction that fails leaves its
connection fit for the next caller."""
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from shared.storage import db


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
