"""The SQL of vector stores, their files and file batches, beyond the generic table SQL.

Status writes take `leaving`, the statuses they may move a row from (`states.sources`):
only `shared/vector_stores/lifecycle` calls them.
"""
from typing import Any, Literal

from psycopg import sql

from shared.storage import repository as tables
from shared.storage.db import Conn
from shared.storage.repository import bind
from shared.vector_stores.states import FILE_STATUSES

# The unit of a store's `expires_after.days`.
DAY = 86_400


def store(conn: Conn, project_id: str, vector_store_id: str, lock: bool = False
          ) -> dict[str, Any]:
    """The store (404 if absent); `lock` keeps it from being deleted until the commit."""
    return tables.get(conn, tables.VECTOR_STORES, {"project_id": project_id}, vector_store_id,
                      "vector_store_id", for_share=lock)


def file_scope(conn: Conn, project_id: str, vector_store_id: str) -> dict[str, str]:
    """The scope of a store's files and batches, once the store is known to exist."""
    store(conn, project_id, vector_store_id)
    return {"project_id": project_id, "vector_store_id": vector_store_id}


def project_of_store(conn: Conn, vector_store_id: str) -> str | None:
    row = conn.execute("SELECT project_id FROM vector_stores WHERE id = %s",
                       (vector_store_id,)).fetchone()
    return None if row is None else str(row["project_id"])


def is_live(conn: Conn, project_id: str, vector_store_id: str, moment: int) -> bool:
    """The store exists in the project and has not expired at `moment`."""
    return conn.execute(
        "SELECT 1 FROM vector_stores WHERE id = %s AND project_id = %s "
        "AND (expires_after IS NULL OR COALESCE(last_active_at, created_at) "
        "+ (expires_after->>'days')::bigint * %s > %s)",
        (vector_store_id, project_id, DAY, moment)).fetchone() is not None


def touch_store(conn: Conn, vector_store_id: str, moment: int) -> None:
    conn.execute("UPDATE vector_stores SET last_active_at = %s WHERE id = %s",
                 (moment, vector_store_id))


def file_counts(conn: Conn, owner: Literal["vector_store_id", "batch_id"], ids: list[str]
                ) -> dict[str, dict[str, int]]:
    """For each store (or batch) of `ids`: how many of its files are in each status, in
    all, and the bytes its completed files hold."""
    rows = conn.execute(
        sql.SQL("SELECT {owner} AS owner, status, count(*) AS n, sum(usage_bytes) AS bytes "
                "FROM vector_store_files WHERE {owner} = ANY(%s) "
                "GROUP BY {owner}, status").format(owner=sql.Identifier(owner)),
        (ids,),
    ).fetchall()
    counts: dict[str, dict[str, int]] = {
        i: {**{s: 0 for s in FILE_STATUSES}, "total": 0, "usage_bytes": 0} for i in ids}
    for row in rows:
        entry = counts[row["owner"]]
        entry[row["status"]] = row["n"]
        entry["total"] += row["n"]
        if row["status"] == "completed":
            entry["usage_bytes"] += int(row["bytes"] or 0)
    return counts


def file_ids(conn: Conn, project_id: str, vector_store_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM vector_store_files WHERE vector_store_id = %s AND project_id = %s",
        (vector_store_id, project_id)).fetchall()
    return [row["id"] for row in rows]


def files_in_status(conn: Conn, vector_store_id: str, file_ids: list[str],
                    statuses: tuple[str, ...]) -> set[str]:
    """Those of `file_ids` that are in the store in one of `statuses`."""
    rows = conn.execute(
        "SELECT id FROM vector_store_files WHERE vector_store_id = %s AND id = ANY(%s) "
        "AND status = ANY(%s)", (vector_store_id, file_ids, list(statuses))).fetchall()
    return {row["id"] for row in rows}


def status_counts(conn: Conn, vector_store_id: str, file_ids: list[str]) -> dict[str, int]:
    """How many of these files of the store are in each status."""
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM vector_store_files "
        "WHERE vector_store_id = %s AND id = ANY(%s) GROUP BY status",
        (vector_store_id, file_ids)).fetchall()
    return {r["status"]: int(r["n"]) for r in rows}


def file_status(conn: Conn, vector_store_id: str, file_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM vector_store_files WHERE vector_store_id = %s AND id = %s",
        (vector_store_id, file_id)).fetchone()
    return None if row is None else str(row["status"])


def ingest_row(conn: Conn, vector_store_id: str, file_id: str, generation: int
               ) -> dict[str, Any] | None:
    """The file's row at this generation, with its filename."""
    return conn.execute(
        "SELECT v.*, f.filename FROM vector_store_files v JOIN files f ON f.id = v.id "
        "WHERE v.vector_store_id = %s AND v.id = %s AND v.generation = %s",
        (vector_store_id, file_id, generation),
    ).fetchone()


def _ingest_lock_key(vector_store_id: str, file_id: str) -> str:
    return f"ingest:{vector_store_id}:{file_id}"


def lock_ingest(conn: Conn, vector_store_id: str, file_id: str) -> None:
    """Hold the file's ingest lock until this transaction ends. Its answer is read, so the
    lock is held on return in a batched transaction too (`db.batched`), before the
    caller sends the task."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                 (_ingest_lock_key(vector_store_id, file_id),)).fetchone()


def await_ingest_lock(conn: Conn, vector_store_id: str, file_id: str) -> None:
    """Wait while a transaction holds the file's ingest lock (`lock_ingest`)."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))",
                 (_ingest_lock_key(vector_store_id, file_id),))


def submit_file(conn: Conn, row: dict[str, Any], leaving: list[str]) -> dict[str, Any] | None:
    """Insert the file's row in_progress, or move the row already there to in_progress on
    the next generation, its ingest outcome cleared."""
    return conn.execute(
        "INSERT INTO vector_store_files (id, project_id, vector_store_id, batch_id, "
        "created_at, status, chunking_strategy, attributes) "
        "VALUES (%s, %s, %s, %s, %s, 'in_progress', %s, %s) "
        "ON CONFLICT (vector_store_id, id) DO UPDATE SET status = 'in_progress', "
        "batch_id = EXCLUDED.batch_id, last_error = NULL, usage_bytes = 0, "
        "chunking_strategy = EXCLUDED.chunking_strategy, "
        "attributes = EXCLUDED.attributes, "
        "generation = vector_store_files.generation + 1 "
        "WHERE vector_store_files.status = ANY(%s) RETURNING *",
        (row["id"], row["project_id"], row["vector_store_id"], row["batch_id"],
         row["created_at"], bind("chunking_strategy", row["chunking_strategy"]),
         bind("attributes", row["attributes"]), leaving),
    ).fetchone()


def end_file(conn: Conn, vector_store_id: str, file_id: str, generation: int, status: str,
             usage_bytes: int, last_error: dict[str, str] | None, leaving: list[str]) -> bool:
    """Record this generation's ingest outcome; False if the row is not at it any more."""
    done = conn.execute(
        "UPDATE vector_store_files SET status = %s, usage_bytes = %s, last_error = %s "
        "WHERE vector_store_id = %s AND id = %s AND generation = %s "
        "AND status = ANY(%s)",
        (status, usage_bytes, bind("last_error", last_error), vector_store_id, file_id,
         generation, leaving),
    )
    return done.rowcount == 1


def cancel_batch(conn: Conn, batch_id: str) -> bool:
    """Set the batch's cancel flag; False if it was set already."""
    done = conn.execute("UPDATE vector_store_file_batches SET cancelled = true "
                        "WHERE id = %s AND NOT cancelled", (batch_id,))
    return done.rowcount == 1


def cancel_batch_files(conn: Conn, batch_id: str, leaving: list[str]) -> None:
    conn.execute("UPDATE vector_store_files SET status = 'cancelled' "
                 "WHERE batch_id = %s AND status = ANY(%s)", (batch_id, leaving))


def any_indexing(conn: Conn, vector_store_ids: list[str]) -> bool:
    """Whether a file of any of the stores is still being indexed."""
    return conn.execute(
        "SELECT 1 FROM vector_store_files WHERE vector_store_id = ANY(%s) "
        "AND status = 'in_progress' LIMIT 1", (vector_store_ids,)).fetchone() is not None


def count_indexing(conn: Conn) -> int:
    """Files of every store still being indexed: the ingest backlog."""
    row = conn.execute(
        "SELECT count(*) AS n FROM vector_store_files WHERE status = 'in_progress'").fetchone()
    return int(row["n"]) if row else 0
