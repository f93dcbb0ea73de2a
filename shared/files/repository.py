"""The SQL of files, beyond the generic table SQL; their bytes are the blob store's."""
from typing import Any

from shared.storage.db import Conn


def exists(conn: Conn, project_id: str, file_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM files WHERE id = %s AND project_id = %s", (file_id, project_id)
    ).fetchone() is not None


def remove_from_vector_stores(conn: Conn, project_id: str, file_id: str) -> list[str]:
    """Drop the file from every vector store holding it; the ids of those stores."""
    rows = conn.execute(
        "DELETE FROM vector_store_files WHERE id = %s AND project_id = %s "
        "RETURNING vector_store_id", (file_id, project_id)).fetchall()
    return [row["vector_store_id"] for row in rows]


def name_and_size(conn: Conn, file_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT filename, bytes FROM files WHERE id = %s",
                        (file_id,)).fetchone()


def filenames(conn: Conn, file_ids: list[str]) -> dict[str, str]:
    """File id -> filename for those of `file_ids` that exist."""
    rows = conn.execute("SELECT id, filename FROM files WHERE id = ANY(%s)",
                        (file_ids,)).fetchall()
    return {row["id"]: row["filename"] for row in rows}
