"""The SQL of messages, beyond the generic table SQL."""
from typing import Any

from shared.runs.streamed import WITHDRAWN_REASON
from shared.storage.db import Conn, Statement


def thread_history(conn: Conn, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    """Role and content of the thread's messages in order, leaving out those `run_id` wrote
    and those a run left unfinished when it failed (a withdrawn message among them: its run
    wrote the answer again)."""
    return conn.execute(*history(thread_id, run_id)).fetchall()


def history(thread_id: str, run_id: str) -> Statement:
    """`thread_history`'s statement, to send with others."""
    return ("SELECT role, content FROM messages WHERE thread_id = %s "
            "AND run_id IS DISTINCT FROM %s "
            "AND incomplete_details->>'reason' IS DISTINCT FROM %s ORDER BY seq",
            (thread_id, run_id, WITHDRAWN_REASON))


def content_of(conn: Conn, message_id: str) -> list[dict[str, Any]] | None:
    row = conn.execute("SELECT content FROM messages WHERE id = %s", (message_id,)).fetchone()
    return None if row is None else list(row["content"])


def code_interpreter_attachments(conn: Conn, thread_id: str) -> list[str]:
    """Ids of the files the thread's messages attach for code_interpreter, in order."""
    rows = conn.execute(
        "SELECT attachment->>'file_id' AS file_id FROM messages, "
        "jsonb_array_elements(attachments) AS attachment WHERE thread_id = %s "
        "AND attachment->'tools' @> '[{\"type\": \"code_interpreter\"}]' ORDER BY seq",
        (thread_id,)).fetchall()
    return [row["file_id"] for row in rows]
