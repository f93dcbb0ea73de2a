"""Checks on tool_resources that need storage: every referenced object must exist."""
from typing import Any

from shared.db import Conn
from shared.errors import InvalidRequestError
from shared.ids import check_id


def require_file(conn: Conn, project_id: str, file_id: str, param: str) -> None:
    check_id("file", file_id, param)
    found = conn.execute(
        "SELECT 1 FROM files WHERE id = %s AND project_id = %s", (file_id, project_id)
    ).fetchone()
    if found is None:
        raise InvalidRequestError(f"No file found with id '{file_id}'.", param=param)


def require_files(conn: Conn, project_id: str, file_ids: list[str], param: str) -> None:
    for index, file_id in enumerate(file_ids):
        require_file(conn, project_id, file_id, f"{param}[{index}]")


def checked_changes(conn: Conn, project_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Changes to an object with tool_resources, the resources checked as on create."""
    if "tool_resources" not in changes:
        return changes
    resources = check_tool_resources(conn, project_id, changes["tool_resources"],
                                     "tool_resources")
    return {**changes, "tool_resources": resources}


def check_tool_resources(
    conn: Conn, project_id: str, resources: dict[str, Any] | None, param: str
) -> dict[str, Any]:
    """The resources as stored: files checked, vector store ids checked by prefix."""
    if not resources:
        return {}
    checked: dict[str, Any] = {}
    code = resources.get("code_interpreter")
    if code is not None:
        file_ids = code.get("file_ids", [])
        require_files(conn, project_id, file_ids, f"{param}.code_interpreter.file_ids")
        checked["code_interpreter"] = {"file_ids": file_ids}
    search = resources.get("file_search")
    if search is not None:
        if search.get("vector_stores"):
            raise InvalidRequestError(
                "Creating vector stores through tool_resources is not available on this "
                "server yet; create the vector store first and pass vector_store_ids.",
                param=f"{param}.file_search.vector_stores",
            )
        ids = search.get("vector_store_ids", [])
        for index, vs_id in enumerate(ids):
            check_id("vector_store", vs_id, f"{param}.file_search.vector_store_ids[{index}]")
        checked["file_search"] = {"vector_store_ids": ids}
    return checked


