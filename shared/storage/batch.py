"""A transaction sent in as few writes as it allows: its statements are bound here and queue
up, then go out as one multi-statement query (the simple query protocol) when a result is
first read and when the transaction ends, BEGIN with the first and COMMIT with the last.

libpq's pipeline mode saves the same round trips but writes each statement, BEGIN, COMMIT,
Flush and Sync apart; on loopback each write costs the sender the receiver's work too, and
Postgres wakes for each. A run's create was eight writes to Postgres; batched it is two.
"""
from collections.abc import Iterator
from typing import Any

import psycopg

Row = dict[str, Any]


class Result:
    """A queued statement's outcome: its rows and rowcount once its batch went out (reading
    either sends the batch); what a cursor offers of them, so code written against a
    connection runs unchanged in a batch."""

    def __init__(self, batch: "Batch"):
        self._batch = batch
        self._rows: list[Row] | None = None
        self._rowcount = -1

    def settle(self, rows: list[Row], rowcount: int) -> None:
        self._rows, self._rowcount = rows, rowcount

    def _read(self) -> list[Row]:
        if self._rows is None:
            self._batch.send()
        assert self._rows is not None
        return self._rows

    def fetchone(self) -> Row | None:
        rows = self._read()
        return rows[0] if rows else None

    def fetchall(self) -> list[Row]:
        return list(self._read())

    def __iter__(self) -> Iterator[Row]:
        return iter(self._read())

    @property
    def rowcount(self) -> int:
        self._read()
        return self._rowcount


class Batch:
    """One transaction on `conn` (autocommit, so the batch's BEGIN and COMMIT are its own)."""

    def __init__(self, conn: psycopg.Connection[Row]):
        self._cursor = psycopg.ClientCursor(conn)
        self._queued: list[tuple[str, Result]] = []
        self._begun = False

    def execute(self, query: Any, params: Any = None) -> Result:
        result = Result(self)
        self._queued.append((self._cursor.mogrify(query, params), result))
        return result

    def send(self, last: str | None = None) -> None:
        """Send what is queued (after BEGIN, the first time; then `last`, if given) and
        settle each statement's result. A failing statement raises here, its transaction
        left failed: the caller rolls it back."""
        queued, self._queued = self._queued, []
        texts = [*([] if self._begun else ["BEGIN"]), *(text for text, _ in queued),
                 *([last] if last else [])]
        skipped = 0 if self._begun else 1
        self._begun = True
        self._cursor.execute("; ".join(texts))
        outcomes = []
        while True:
            rows = self._cursor.fetchall() if self._cursor.description is not None else []
            outcomes.append((rows, self._cursor.rowcount))
            if not self._cursor.nextset():
                break
        for (_, result), (rows, rowcount) in zip(queued, outcomes[skipped:], strict=False):
            result.settle(rows, rowcount)

    def commit(self) -> None:
        if self._begun or self._queued:
            self.send("COMMIT")

    def rollback(self) -> None:
        """Undo what was sent; nothing was, if BEGIN never went out."""
        self._queued = []
        if self._begun:
            self._cursor.execute("ROLLBACK")
