"""The SQL of responses. A response's run and thread rows have its id, so the generic table
SQL makes those; this module keeps the `responses` rows and the reads that join them."""
from collections.abc import Callable
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from shared.storage.db import Conn

_JSON = ("request", "input", "output")


def insert(conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
    statement = sql.SQL("INSERT INTO responses ({}) VALUES ({}) RETURNING *").format(
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)))
    created = conn.execute(statement, [
        Jsonb(value) if column in _JSON and value is not None else value
        for column, value in row.items()]).fetchone()
    assert created is not None
    return created


def find(conn: Conn, project_id: str, response_id: str) -> dict[str, Any] | None:
    """A stored response of the project (one made with `store: false` is never found)."""
    return conn.execute(
        "SELECT * FROM responses WHERE id = %s AND project_id = %s AND store",
        (response_id, project_id)).fetchone()


def find_any(conn: Conn, response_id: str) -> dict[str, Any] | None:
    """The response behind a run, stored or not, for its engine."""
    return conn.execute("SELECT * FROM responses WHERE id = %s", (response_id,)).fetchone()


# The response (locked), its run's steps in order and its messages by id.
EndRows = tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, dict[str, Any]]]


def read_for_end(conn: Conn, response_id: str) -> Callable[[], EndRows]:
    """What a response's end reads, sent before any of it is fetched, so in a batch
    (`db.batched`) the three reads share the round trip of what was queued before them;
    returns what fetches them."""
    response = conn.execute("SELECT * FROM responses WHERE id = %s FOR UPDATE", (response_id,))
    steps = conn.execute("SELECT * FROM run_steps WHERE run_id = %s ORDER BY seq",
                         (response_id,))
    messages = conn.execute("SELECT * FROM messages WHERE run_id = %s", (response_id,))

    def fetch() -> EndRows:
        return (response.fetchone(), steps.fetchall(),
                {row["id"]: row for row in messages.fetchall()})
    return fetch


def run_of(conn: Conn, response_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM runs WHERE id = %s", (response_id,)).fetchone()


def lock_run(conn: Conn, project_id: str, response_id: str) -> dict[str, Any] | None:
    """The run of a stored response of the project, locked for a status change."""
    return conn.execute(
        "SELECT r.* FROM runs r JOIN responses p ON p.id = r.id "
        "WHERE r.id = %s AND p.project_id = %s AND p.store FOR UPDATE OF r",
        (response_id, project_id)).fetchone()


def chain(conn: Conn, response_id: str) -> list[dict[str, Any]]:
    """The input and output of `response_id` and of each response before it by
    `previous_response_id`, oldest first. The chain stops at a response that is gone."""
    return conn.execute(
        "WITH RECURSIVE back(id, previous_response_id, input, output, depth) AS ("
        " SELECT id, previous_response_id, input, output, 0 FROM responses WHERE id = %s"
        " UNION ALL"
        " SELECT r.id, r.previous_response_id, r.input, r.output, b.depth + 1"
        " FROM responses r JOIN back b ON r.id = b.previous_response_id)"
        " SELECT id, input, output FROM back ORDER BY depth DESC",
        (response_id,)).fetchall()


def conversation_items(conn: Conn, conversation_id: str) -> list[dict[str, Any]]:
    """Every item of the conversation in order, as stored items: a response's history."""
    rows = conn.execute("SELECT id, item FROM conversation_items WHERE conversation_id = %s "
                        "ORDER BY position", (conversation_id,)).fetchall()
    return [{"id": row["id"], **row["item"]} for row in rows]


# A response's items, input then output; migration 0009 indexes the ids of this very
# expression, so the planner uses that index only while the two are written alike.
_ITEMS = "(input || coalesce(output, '[]'::jsonb))"


def find_item(conn: Conn, project_id: str, item_id: str) -> dict[str, Any] | None:
    """An input or output item of a stored response of the project, the earliest response's
    copy when referenced items made several (one made with `store: false` has none)."""
    row = conn.execute(
        f"SELECT item FROM responses, jsonb_array_elements({_ITEMS}) AS item"
        f" WHERE jsonb_path_query_array({_ITEMS}, '$[*].id') @> to_jsonb(%s::text)"
        " AND project_id = %s AND store AND item->>'id' = %s ORDER BY seq LIMIT 1",
        (item_id, project_id, item_id)).fetchone()
    return None if row is None else dict(row["item"])


def steps_of(conn: Conn, run_id: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM run_steps WHERE run_id = %s ORDER BY seq",
                        (run_id,)).fetchall()


def messages_of(conn: Conn, run_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute("SELECT * FROM messages WHERE run_id = %s", (run_id,)).fetchall()
    return {row["id"]: row for row in rows}


def set_output(conn: Conn, response_id: str, output: list[dict[str, Any]]) -> None:
    conn.execute("UPDATE responses SET output = %s WHERE id = %s", (Jsonb(output), response_id))


def delete(conn: Conn, project_id: str, response_id: str) -> bool:
    """The response's thread goes, and with it its run, steps, messages and row."""
    return conn.execute(
        "DELETE FROM threads WHERE id = (SELECT id FROM responses "
        "WHERE id = %s AND project_id = %s AND store)", (response_id, project_id)
    ).rowcount > 0


def forget(conn: Conn, response_id: str) -> None:
    """An unstored response's rows go once it has ended."""
    conn.execute("DELETE FROM threads WHERE id = %s", (response_id,))
