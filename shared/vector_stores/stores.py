"""Vector stores as the API sees them, and the stores made for assistants and threads.

Rows are written here and ingest tasks sent after the commit; the ingest pool parses, chunks,
embeds and indexes. A store's counts and status are derived from its files' rows when read,
so they can never drift from them.
"""
from typing import Any

from shared.clock import now
from shared.errors import InvalidRequestError
from shared.files.blobs import get_blob_store
from shared.ids import check_id
from shared.objects import deleted
from shared.platform import tasks
from shared.storage import repository as tables
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.vector_stores import lifecycle, repository
from shared.vector_stores.files import attach

# Stores made by the thread helpers (attachments, tool_resources on threads) expire a week
# after their last use unless told otherwise, as OpenAI's do.
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}
# Files of a thread's store that a new attachment of the same file leaves as they are.
_KEPT = ("in_progress", "completed")


def settle_stores(conn: Conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each store's file counts, usage, expiry and the status they give it."""
    counts = repository.file_counts(conn, "vector_store_id", [r["id"] for r in rows])
    moment = now()
    for row in rows:
        entry = counts[row["id"]]
        row["usage_bytes"] = entry.pop("usage_bytes")
        row["file_counts"] = entry
        after = row["expires_after"]
        anchor = row["last_active_at"] or row["created_at"]
        row["expires_at"] = anchor + after["days"] * repository.DAY if after else None
        if row["expires_at"] is not None and row["expires_at"] <= moment:
            row["status"] = "expired"
        else:
            row["status"] = "in_progress" if entry["in_progress"] else "completed"
    return rows


def require_vector_store(conn: Conn, project_id: str, vector_store_id: str, param: str
                         ) -> None:
    """400 naming `param` unless the store is the project's: another project's store is
    answered exactly as one that does not exist."""
    check_id("vector_store", vector_store_id, param)
    if repository.project_of_store(conn, vector_store_id) != project_id:
        raise InvalidRequestError(f"No vector store found with id '{vector_store_id}'.",
                                  param=param)


def stores_of_project(conn: Conn, project_id: str, vector_store_ids: list[str]) -> list[str]:
    """Those of the ids that are stores of the project, in their order: what a search may
    read. Workers check again what the API checked, so a reference that got past one door
    still reads nothing of another project."""
    return [vector_store_id for vector_store_id in dict.fromkeys(vector_store_ids)
            if repository.project_of_store(conn, vector_store_id) == project_id]


def _insert_store(conn: Conn, project_id: str, fields: dict[str, Any], param: str = ""
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new store and its files' rows; `param` prefixes error params for nested input."""
    store = tables.insert(conn, tables.VECTOR_STORES, {
        "project_id": project_id, "created_at": now(), "last_active_at": now(),
        "name": fields.get("name") or "", "description": fields.get("description"),
        "expires_after": fields.get("expires_after"),
        "metadata": fields.get("metadata") or {},
    })
    strategy = fields.get("chunking_strategy")
    rows = attach(conn, project_id, store["id"], (
        (file_id, strategy, None, f"{param}file_ids[{i}]")
        for i, file_id in enumerate(fields.get("file_ids") or [])))
    return store, rows


def create_vector_store(project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        store, rows = _insert_store(conn, project_id, fields)
        store = settle_stores(conn, [store])[0]
    lifecycle.send_ingest(rows)
    return store


def create_from_helper(conn: Conn, project_id: str, helper: dict[str, Any], param: str,
                       expires_after: dict[str, Any] | None = None) -> str:
    """The `tool_resources.file_search.vector_stores` helper: a store made in the caller's
    transaction; its id goes into the object's vector_store_ids."""
    store, rows = _insert_store(conn, project_id, {**helper, "expires_after": expires_after},
                                f"{param}.")
    lifecycle.send_ingest_on_commit(conn, rows)
    return str(store["id"])


def add_thread_files(conn: Conn, project_id: str, thread_id: str,
                     files: list[tuple[str, str]]) -> None:
    """Files attached to a message for file_search go into the thread's vector store, made
    (and named in the thread's tool_resources) on first use. `files`: (file_id, param)."""
    thread = tables.get(conn, tables.THREADS, {"project_id": project_id}, thread_id,
                        "thread_id", for_update=True)
    resources = dict(thread["tool_resources"] or {})
    store_ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    store_id = store_ids[0] if store_ids else None
    # A store that is gone or has expired is replaced, as the thread's store can no longer
    # serve searches.
    if store_id is None or not repository.is_live(conn, project_id, store_id, now()):
        store, _ = _insert_store(conn, project_id, {
            "name": f"Vector store for {thread_id}", "expires_after": THREAD_STORE_EXPIRY})
        store_id = store["id"]
        resources["file_search"] = {"vector_store_ids": [store_id]}
        tables.update(conn, tables.THREADS, {"project_id": project_id}, thread_id,
                      "thread_id", {"tool_resources": resources})
    present = repository.files_in_status(conn, store_id, [file_id for file_id, _ in files],
                                         _KEPT)
    wanted = {file_id: param for file_id, param in files if file_id not in present}
    rows = attach(conn, project_id, store_id,
                  ((file_id, None, None, param) for file_id, param in wanted.items()))
    lifecycle.send_ingest_on_commit(conn, rows)


def get_vector_store(project_id: str, vector_store_id: str) -> dict[str, Any]:
    with reading() as conn:
        return settle_stores(conn, [repository.store(conn, project_id, vector_store_id)])[0]


def list_vector_stores(project_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        page = tables.page(conn, tables.VECTOR_STORES, {"project_id": project_id}, query)
        settle_stores(conn, page.data)
        return page


def modify_vector_store(project_id: str, vector_store_id: str, changes: dict[str, Any]
                        ) -> dict[str, Any]:
    with unit_of_work() as conn:
        if "name" in changes:
            changes = {**changes, "name": changes["name"] or ""}
        row = tables.update(conn, tables.VECTOR_STORES, {"project_id": project_id},
                            vector_store_id, "vector_store_id", changes)
        return settle_stores(conn, [row])[0]


def delete_vector_store(project_id: str, vector_store_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        file_ids = repository.file_ids(conn, project_id, vector_store_id)
        tables.delete(conn, tables.VECTOR_STORES, {"project_id": project_id}, vector_store_id,
                      "vector_store_id")
        for file_id in file_ids:
            get_blob_store().delete(conn, lifecycle.parsed_text_key(vector_store_id, file_id))
    tasks.send_delete_indexed_store(vector_store_id)
    return deleted(vector_store_id, "vector_store.deleted")
