"""What a run's built-in tools may reach: the assistant's, the thread's and the run's own
tool_resources, and files attached to the thread's messages for a tool."""
from dataclasses import dataclass, field
from typing import Any

from shared.storage.db import Conn


@dataclass
class Resources:
    vector_store_ids: list[str] = field(default_factory=list)
    # file id -> filename, for the files placed under /mnt/data.
    code_files: dict[str, str] = field(default_factory=dict)


def _merge(target: list[str], ids: list[str]) -> None:
    target.extend(i for i in ids if i not in target)


def load(conn: Conn, run: dict[str, Any]) -> Resources:
    rows = conn.execute(
        "SELECT a.tool_resources AS assistant, t.tool_resources AS thread "
        "FROM threads t LEFT JOIN assistants a ON a.id = %s WHERE t.id = %s",
        (run["assistant_id"], run["thread_id"])).fetchone()
    layers = [run.get("tool_resources") or {}]
    if rows is not None:
        layers += [rows["thread"] or {}, rows["assistant"] or {}]
    resources = Resources()
    code_ids: list[str] = []
    for layer in layers:
        _merge(resources.vector_store_ids,
               (layer.get("file_search") or {}).get("vector_store_ids", []))
        _merge(code_ids, (layer.get("code_interpreter") or {}).get("file_ids", []))
    attached = conn.execute(
        "SELECT attachment->>'file_id' AS file_id FROM messages, "
        "jsonb_array_elements(attachments) AS attachment WHERE thread_id = %s "
        "AND attachment->'tools' @> '[{\"type\": \"code_interpreter\"}]' ORDER BY seq",
        (run["thread_id"],)).fetchall()
    _merge(code_ids, [row["file_id"] for row in attached])
    if code_ids:
        names = conn.execute("SELECT id, filename FROM files WHERE id = ANY(%s)",
                             (code_ids,)).fetchall()
        found = {row["id"]: row["filename"] for row in names}
        resources.code_files = {i: found[i] for i in code_ids if i in found}
    return resources
