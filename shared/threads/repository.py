"""The SQL of threads, beyond the generic table SQL."""
from typing import Any

from shared.storage.db import Conn
from shared.storage.pagination import Page, PageQuery, fetch_page


def tool_resources_with_assistant(conn: Conn, thread_id: str, assistant_id: str
                                  ) -> dict[str, Any] | None:
    """The thread's tool_resources (`thread`) and its assistant's (`assistant`, None if the
    assistant is gone), in one round trip; None if the thread is gone."""
    return conn.execute(
        "SELECT a.tool_resources AS assistant, t.tool_resources AS thread "
        "FROM threads t LEFT JOIN assistants a ON a.id = %s WHERE t.id = %s",
        (assistant_id, thread_id)).fetchone()


def page_threads(conn: Conn, project_id: str, query: PageQuery) -> Page:
    """One page of the project's threads, leaving out the threads of responses."""
    return fetch_page(conn, "assistant_threads", {"project_id": project_id}, query)
