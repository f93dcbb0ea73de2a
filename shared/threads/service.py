"""Threads: created with their first messages in one transaction; listed per project (a
Treadle extension: OpenAI's API has no thread list)."""
from typing import Any

from shared.clock import now
from shared.messages.service import check_references as check_message_references
from shared.messages.service import insert_message
from shared.objects import deleted
from shared.storage import repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import THREADS
from shared.threads import repository as threads
from shared.tool_resources.service import check_references as check_tool_references
from shared.tool_resources.service import check_tool_resources, checked_changes


def check_references(conn: Conn, project_id: str, fields: dict[str, Any],
                     param: str = "") -> None:
    """Every id a new thread names (its tool_resources, its messages' files) resolved inside
    the project before anything is written or sent; `param` prefixes error params."""
    check_tool_references(conn, project_id, fields.get("tool_resources"),
                          f"{param}tool_resources")
    for index, message in enumerate(fields.get("messages") or []):
        check_message_references(conn, project_id, message, f"{param}messages[{index}].")


def insert_thread(conn: Conn, project_id: str, fields: dict[str, Any], param: str = ""
                  ) -> dict[str, Any]:
    """A thread with its first messages; `param` prefixes error params for nested input
    (`thread.` in create thread and run)."""
    check_references(conn, project_id, fields, param)
    thread = repository.insert(conn, THREADS, {
        "project_id": project_id,
        "created_at": now(),
        "tool_resources": check_tool_resources(
            conn, project_id, fields.get("tool_resources"), f"{param}tool_resources",
            thread_store=True,
        ),
        "metadata": fields.get("metadata") or {},
    })
    messages = fields.get("messages") or []
    for index, message in enumerate(messages):
        insert_message(conn, project_id, thread["id"], message,
                       f"{param}messages[{index}].")
    if any(message.get("attachments") for message in messages):
        # Attachments for file_search may have given the thread a vector store.
        thread = repository.get(conn, THREADS, {"project_id": project_id}, thread["id"],
                                "thread_id")
    return thread


def create_thread(project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        return insert_thread(conn, project_id, fields)


def get_thread(project_id: str, thread_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id")


def modify_thread(project_id: str, thread_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = {"project_id": project_id}
        repository.get(conn, THREADS, scope, thread_id, "thread_id", for_update=True)
        return repository.update(conn, THREADS, scope, thread_id, "thread_id",
                                 checked_changes(conn, project_id, changes,
                                                 thread_store=True))


def delete_thread(project_id: str, thread_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        repository.delete(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id")
    return deleted(thread_id, "thread.deleted")


def list_threads(project_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        return threads.page_threads(conn, project_id, query)
