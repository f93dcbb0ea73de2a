"""The SQL of conversation items; conversations themselves use the generic table SQL."""
from typing import Any

from psycopg.types.json import Jsonb

from shared.storage.db import Conn
from shared.storage.pagination import Page, PageQuery, fetch_page


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], **row["item"]}


def reserve_positions(conn: Conn, project_id: str, conversation_id: str, count: int
                      ) -> int | None:
    """The first of `count` positions at the conversation's end, reserved by moving its
    `next_position`: the row stays locked until the transaction ends, so appenders queue
    and each batch is contiguous. None when the project has no such conversation."""
    row = conn.execute(
        "UPDATE conversations SET next_position = next_position + %s "
        "WHERE id = %s AND project_id = %s RETURNING next_position - %s AS first",
        (count, conversation_id, project_id, count)).fetchone()
    return None if row is None else int(row["first"])


def insert_items(conn: Conn, project_id: str, conversation_id: str, first_position: int,
                 created_at: int, items: list[dict[str, Any]]) -> None:
    """One statement for all of them, so in a batch (`db.batched`) they cost no trip of
    their own."""
    if not items:
        return
    conn.execute(
        "INSERT INTO conversation_items "
        "(id, project_id, conversation_id, position, created_at, item) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(items)),
        [param for offset, item in enumerate(items) for param in (
            item["id"], project_id, conversation_id, first_position + offset, created_at,
            Jsonb({key: value for key, value in item.items() if key != "id"}))])


def get_item(conn: Conn, project_id: str, conversation_id: str, item_id: str
             ) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, item FROM conversation_items "
        "WHERE id = %s AND conversation_id = %s AND project_id = %s",
        (item_id, conversation_id, project_id)).fetchone()
    return None if row is None else _item(row)


def find_item(conn: Conn, project_id: str, item_id: str) -> dict[str, Any] | None:
    """An item of any conversation of the project."""
    row = conn.execute("SELECT id, item FROM conversation_items WHERE id = %s AND project_id = %s",
                       (item_id, project_id)).fetchone()
    return None if row is None else _item(row)


def taken_item_ids(conn: Conn, item_ids: list[str]) -> set[str]:
    """Those of the ids that items of any conversation have already."""
    rows = conn.execute("SELECT id FROM conversation_items WHERE id = ANY(%s)",
                        (item_ids,)).fetchall()
    return {row["id"] for row in rows}


def delete_item(conn: Conn, project_id: str, conversation_id: str, item_id: str) -> bool:
    return conn.execute(
        "DELETE FROM conversation_items "
        "WHERE id = %s AND conversation_id = %s AND project_id = %s",
        (item_id, conversation_id, project_id)).rowcount > 0


def page_items(conn: Conn, project_id: str, conversation_id: str, query: PageQuery) -> Page:
    """One page of the conversation's items in position order, as stored items."""
    page = fetch_page(conn, "conversation_items",
                      {"project_id": project_id, "conversation_id": conversation_id},
                      query, order_column="position")
    return Page(data=[_item(row) for row in page.data], has_more=page.has_more)
