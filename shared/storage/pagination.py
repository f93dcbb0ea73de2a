"""Cursor pagination over a table's order column (`seq` unless told), in OpenAI's list shape."""
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from shared.errors import InvalidRequestError
from shared.storage.db import Conn


@dataclass(frozen=True)
class PageQuery:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": self.data,
            "first_id": self.data[0]["id"] if self.data else None,
            "last_id": self.data[-1]["id"] if self.data else None,
            "has_more": self.has_more,
        }


def _cursor_seq(conn: Conn, table: str, scope: dict[str, Any], cursor: str, param: str,
                order_column: str) -> int:
    where = sql.SQL(" AND ").join(
        [sql.SQL("id = %s")] + [sql.SQL("{} = %s").format(sql.Identifier(k)) for k in scope]
    )
    query = sql.SQL("SELECT {} AS seq FROM {} WHERE {}").format(
        sql.Identifier(order_column), sql.Identifier(table), where)
    row = conn.execute(query, [cursor, *scope.values()]).fetchone()
    if row is None:
        raise InvalidRequestError(
            f"Invalid '{param}': no object with id '{cursor}' in this list.", param=param
        )
    return int(row["seq"])


def fetch_page(conn: Conn, table: str, scope: dict[str, Any], query: PageQuery,
               order_column: str = "seq") -> Page:
    """Rows of `table` matching every `scope` column, one page after/before the cursors,
    in the order of `order_column` (unique within the scope).

    With only `before`, the page nearest the cursor is wanted, so the walk runs backwards
    and the rows are turned round before they are returned.
    """
    ascending = query.order == "asc"
    backwards = query.before is not None and query.after is None
    order = sql.Identifier(order_column)
    conditions: list[sql.Composable] = [
        sql.SQL("{} = %s").format(sql.Identifier(k)) for k in scope
    ]
    params: list[Any] = list(scope.values())
    if query.after is not None:
        conditions.append(sql.SQL("{} > %s" if ascending else "{} < %s").format(order))
        params.append(_cursor_seq(conn, table, scope, query.after, "after", order_column))
    if query.before is not None:
        conditions.append(sql.SQL("{} < %s" if ascending else "{} > %s").format(order))
        params.append(_cursor_seq(conn, table, scope, query.before, "before", order_column))
    walk_ascending = ascending != backwards
    statement = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} {} LIMIT %s").format(
        sql.Identifier(table),
        sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("TRUE"),
        order,
        sql.SQL("ASC" if walk_ascending else "DESC"),
    )
    rows = conn.execute(statement, [*params, query.limit + 1]).fetchall()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if backwards:
        rows.reverse()
    return Page(data=rows, has_more=has_more)
