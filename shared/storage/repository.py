"""Parameterised SQL shared by every object table: insert, fetch, update, delete, list."""
from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from shared.errors import NotFoundError
from shared.ids import check_id, is_well_formed, new_id
from shared.storage.db import Conn, Statement
from shared.storage.pagination import Page, PageQuery, fetch_page

# Columns stored as JSONB; any value bound to them is wrapped, strings included.
JSON_COLUMNS = frozenset(
    {
        "tools",
        "tool_resources",
        "metadata",
        "response_format",
        "content",
        "attachments",
        "incomplete_details",
        "required_action",
        "last_error",
        "usage",
        "truncation_strategy",
        "tool_choice",
        "step_details",
        "expires_after",
        "chunking_strategy",
        "attributes",
    }
)


@dataclass(frozen=True)
class Table:
    name: str
    kind: str
    label: str

    def not_found(self, object_id: str) -> NotFoundError:
        return NotFoundError(f"No {self.label} found with id '{object_id}'.", param=None)


ASSISTANTS = Table("assistants", "assistant", "assistant")
THREADS = Table("threads", "thread", "thread")
MESSAGES = Table("messages", "message", "message")
FILES = Table("files", "file", "file")
RUNS = Table("runs", "run", "run")
VECTOR_STORES = Table("vector_stores", "vector_store", "vector store")
VECTOR_STORE_FILES = Table("vector_store_files", "file", "vector store file")
FILE_BATCHES = Table("vector_store_file_batches", "file_batch", "vector store file batch")
STEPS = Table("run_steps", "step", "run step")
CONVERSATIONS = Table("conversations", "conversation", "conversation")


def bind(column: str, value: Any) -> Any:
    return Jsonb(value) if column in JSON_COLUMNS and value is not None else value


def _where(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in columns)


# Each statement's text is composed once per table and set of columns, not per execution:
# composing and quoting cost more CPU than sending the statement.
@cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    ).as_string()


@cache
def _get_sql(table: str, scope: tuple[str, ...], lock: str) -> str:
    return sql.SQL("SELECT * FROM {} WHERE id = %s AND {}{}").format(
        sql.Identifier(table), _where(scope), sql.SQL(lock)).as_string()


@cache
def _update_sql(table: str, changed: tuple[str, ...], scope: tuple[str, ...]) -> str:
    return sql.SQL("UPDATE {} SET {} WHERE id = %s AND {} RETURNING *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changed),
        _where(scope),
    ).as_string()


@cache
def _delete_sql(table: str, scope: tuple[str, ...]) -> str:
    return sql.SQL("DELETE FROM {} WHERE id = %s AND {}").format(
        sql.Identifier(table), _where(scope)).as_string()


def insertion(table: Table, row: dict[str, Any]) -> Statement:
    """The INSERT of `row` (given an id unless it has one), returning the row."""
    row = {"id": row.get("id") or new_id(table.kind), **row}
    return _insert_sql(table.name, tuple(row)), [bind(k, v) for k, v in row.items()]


def insert(conn: Conn, table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return inserted(inserting(conn, table, row))


def inserting(conn: Conn, table: Table, row: dict[str, Any]) -> Cursor[dict[str, Any]]:
    """`insert`'s statement sent, its row not yet read (`inserted`): in a batched
    transaction (`db.batched`) it goes out with what follows, COMMIT included."""
    return conn.execute(*insertion(table, row))


def inserted(cursor: Cursor[dict[str, Any]]) -> dict[str, Any]:
    created = cursor.fetchone()
    assert created is not None
    return created


def _check(table: Table, object_id: str, param: str) -> None:
    """400 for another kind's id, 404 for one that no object can have."""
    check_id(table.kind, object_id, param)
    if not is_well_formed(table.kind, object_id):
        raise table.not_found(object_id)


def get(
    conn: Conn, table: Table, scope: dict[str, Any], object_id: str, param: str,
    for_update: bool = False, for_share: bool = False,
) -> dict[str, Any]:
    """The object with `object_id` inside `scope`; 400 for a malformed id, 404 if absent."""
    return got(getting(conn, table, scope, object_id, param, for_update, for_share),
               table, object_id)


def getting(
    conn: Conn, table: Table, scope: dict[str, Any], object_id: str, param: str,
    for_update: bool = False, for_share: bool = False,
) -> Cursor[dict[str, Any]]:
    """`get`'s statement sent, its row not yet read (`got`): in a batch (`db.batched`)
    several go out and come back in one round trip. A malformed id is refused at once."""
    _check(table, object_id, param)
    lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
    return conn.execute(_get_sql(table.name, tuple(scope), lock), [object_id, *scope.values()])


def got(cursor: Cursor[dict[str, Any]], table: Table, object_id: str) -> dict[str, Any]:
    """The row `getting` asked for; 404 if there is none."""
    row = cursor.fetchone()
    if row is None:
        raise table.not_found(object_id)
    return row


def update(
    conn: Conn, table: Table, scope: dict[str, Any], object_id: str, param: str,
    changes: dict[str, Any],
) -> dict[str, Any]:
    if not changes:
        return get(conn, table, scope, object_id, param)
    _check(table, object_id, param)
    params = [bind(k, v) for k, v in changes.items()] + [object_id, *scope.values()]
    row = conn.execute(_update_sql(table.name, tuple(changes), tuple(scope)), params).fetchone()
    if row is None:
        raise table.not_found(object_id)
    return row


def delete(conn: Conn, table: Table, scope: dict[str, Any], object_id: str, param: str) -> None:
    _check(table, object_id, param)
    if conn.execute(_delete_sql(table.name, tuple(scope)),
                    [object_id, *scope.values()]).rowcount == 0:
        raise table.not_found(object_id)


def page(conn: Conn, table: Table, scope: dict[str, Any], query: PageQuery) -> Page:
    return fetch_page(conn, table.name, scope, query)
