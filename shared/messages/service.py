"""Messages on a thread: content normalised to the wire's parts, files checked; files
attached for file_search go into the thread's vector store."""
from typing import Any

from shared.clock import now
from shared.errors import InvalidRequestError, NotFoundError
from shared.files.service import require_file
from shared.objects import deleted
from shared.runs import repository as runs
from shared.storage import repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import MESSAGES, RUNS, THREADS
from shared.vector_stores.stores import add_thread_files


def _content_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    return [{"type": "text", "text": {"value": part["text"], "annotations": []}}
            if part["type"] == "text" else part for part in content]


def for_file_search(attachment: dict[str, Any]) -> bool:
    return any(tool.get("type") == "file_search" for tool in attachment.get("tools") or [])


def check_references(conn: Conn, project_id: str, fields: dict[str, Any],
                     param: str = "") -> None:
    """Every file a client-written message names (attachments, image_file parts) resolved
    inside the project, before anything is written: a 400 naming the field otherwise."""
    for index, attachment in enumerate(fields.get("attachments") or []):
        require_file(conn, project_id, attachment["file_id"],
                     f"{param}attachments[{index}].file_id")
    content = fields["content"]
    for index, part in enumerate([] if isinstance(content, str) else content):
        if part["type"] == "image_file":
            require_file(conn, project_id, part["image_file"]["file_id"],
                         f"{param}content[{index}].image_file.file_id")


def insert_message(conn: Conn, project_id: str, thread_id: str, fields: dict[str, Any],
                   param: str = "") -> dict[str, Any]:
    """Store one client-written message; `param` prefixes error params for nested input."""
    check_references(conn, project_id, fields, param)
    attachments = fields.get("attachments") or []
    searchable = [(attachment["file_id"], f"{param}attachments[{index}].file_id")
                  for index, attachment in enumerate(attachments)
                  if for_file_search(attachment)]
    if searchable:
        add_thread_files(conn, project_id, thread_id, searchable)
    created_at = now()
    return repository.insert(conn, MESSAGES, {
        "project_id": project_id,
        "thread_id": thread_id,
        "created_at": created_at,
        "status": "completed",
        "completed_at": created_at,
        "role": fields["role"],
        "content": _content_parts(fields["content"]),
        "attachments": attachments,
        "metadata": fields.get("metadata") or {},
    })


def _thread_scope(conn: Conn, project_id: str, thread_id: str) -> dict[str, str]:
    repository.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id")
    return {"project_id": project_id, "thread_id": thread_id}


def create_message(project_id: str, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        # Shares the thread row with run creation, which takes it exclusively; a message
        # whose attachments go to the thread's vector store may change the thread's
        # tool_resources, so it takes the row exclusively too.
        exclusive = any(for_file_search(a) for a in fields.get("attachments") or [])
        repository.get(conn, THREADS, {"project_id": project_id}, thread_id, "thread_id",
                       for_share=not exclusive, for_update=exclusive)
        active = runs.active_run_id(conn, thread_id)
        if active is not None:
            raise InvalidRequestError(
                f"Can't add messages to {thread_id} while a run {active} is active."
            )
        return insert_message(conn, project_id, thread_id, fields)


def get_message(project_id: str, thread_id: str, message_id: str) -> dict[str, Any]:
    with reading() as conn:
        scope = _thread_scope(conn, project_id, thread_id)
        return repository.get(conn, MESSAGES, scope, message_id, "message_id")


def modify_message(project_id: str, thread_id: str, message_id: str,
                   changes: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _thread_scope(conn, project_id, thread_id)
        return repository.update(conn, MESSAGES, scope, message_id, "message_id", changes)


def delete_message(project_id: str, thread_id: str, message_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _thread_scope(conn, project_id, thread_id)
        repository.delete(conn, MESSAGES, scope, message_id, "message_id")
    return deleted(message_id, "thread.message.deleted")


def _require_run(conn: Conn, scope: dict[str, Any], run_id: str) -> None:
    """The `run_id` filter resolved in the thread, as the `after`/`before` cursors are: a
    run of another thread or project is refused (400 naming it), not silently matched."""
    try:
        repository.get(conn, RUNS, scope, run_id, "run_id")
    except NotFoundError:
        raise InvalidRequestError(f"No run found with id '{run_id}'.",
                                  param="run_id") from None


def list_messages(project_id: str, thread_id: str, query: PageQuery,
                  run_id: str | None = None) -> Page:
    with reading() as conn:
        scope: dict[str, Any] = _thread_scope(conn, project_id, thread_id)
        if run_id is not None:
            _require_run(conn, scope, run_id)
            scope["run_id"] = run_id
        return repository.page(conn, MESSAGES, scope, query)
