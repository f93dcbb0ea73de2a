"""Checks on tool_resources that need storage: every referenced object must exist in the
caller's project, and the vector stores the `file_search.vector_stores` helper asks for are
made."""
from typing import Any

from shared.errors import InvalidRequestError
from shared.files.service import require_files
from shared.storage.db import Conn
from shared.vector_stores.stores import (
    THREAD_STORE_EXPIRY,
    create_from_helper,
    require_vector_store,
)


def checked_changes(conn: Conn, project_id: str, changes: dict[str, Any],
                    thread_store: bool = False) -> dict[str, Any]:
    """Changes to an object with tool_resources, the resources checked as on create."""
    if "tool_resources" not in changes:
        return changes
    resources = check_tool_resources(conn, project_id, changes["tool_resources"],
                                     "tool_resources", thread_store)
    return {**changes, "tool_resources": resources}


def check_references(conn: Conn, project_id: str, resources: dict[str, Any] | None,
                     param: str) -> None:
    """Every id the resources name resolved inside the project, before anything is written
    or sent: a 400 naming the field for one that is not there, and another project's ids
    are not there."""
    if not resources:
        return
    code = resources.get("code_interpreter")
    if code is not None:
        require_files(conn, project_id, code.get("file_ids", []),
                      f"{param}.code_interpreter.file_ids")
    search = resources.get("file_search")
    if search is None:
        return
    where = f"{param}.file_search"
    ids = search.get("vector_store_ids", [])
    helpers = search.get("vector_stores") or []
    if ids and helpers:
        raise InvalidRequestError(
            "Give either vector_store_ids or vector_stores, not both.",
            param=f"{where}.vector_stores")
    for index, vs_id in enumerate(ids):
        require_vector_store(conn, project_id, vs_id, f"{where}.vector_store_ids[{index}]")
    for index, helper in enumerate(helpers):
        require_files(conn, project_id, helper.get("file_ids") or [],
                      f"{where}.vector_stores[{index}].file_ids")


def check_tool_resources(
    conn: Conn, project_id: str, resources: dict[str, Any] | None, param: str,
    thread_store: bool = False,
) -> dict[str, Any]:
    """The resources as stored: every id checked (`check_references`), and the stores asked
    for with `file_search.vector_stores` created (their ingest sent when the caller's
    transaction commits). `thread_store`: stores made for a thread expire a week after their
    last use, as OpenAI's thread helpers do."""
    if not resources:
        return {}
    check_references(conn, project_id, resources, param)
    checked: dict[str, Any] = {}
    code = resources.get("code_interpreter")
    if code is not None:
        checked["code_interpreter"] = {"file_ids": code.get("file_ids", [])}
    search = resources.get("file_search")
    if search is not None:
        where = f"{param}.file_search"
        ids = search.get("vector_store_ids", [])
        helpers = search.get("vector_stores") or []
        if helpers:
            expiry = THREAD_STORE_EXPIRY if thread_store else None
            ids = [create_from_helper(conn, project_id, helper,
                                      f"{where}.vector_stores[{index}]", expiry)
                   for index, helper in enumerate(helpers)]
        checked["file_search"] = {"vector_store_ids": ids}
    return checked
