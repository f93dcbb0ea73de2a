"""Files: bytes into the blob store and the row beside them in one transaction."""
from collections.abc import Iterator
from typing import Any, BinaryIO

from shared.clock import now
from shared.config import get_settings
from shared.errors import InvalidRequestError
from shared.files import repository as files
from shared.files.blobs import get_blob_store
from shared.ids import check_id, new_id
from shared.objects import deleted
from shared.platform import tasks
from shared.storage import repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import FILES

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


def create_file(project_id: str, stream: BinaryIO, filename: str, purpose: str,
                expires_after: dict[str, Any] | None = None) -> dict[str, Any]:
    file_id = new_id("file")
    created_at = now()
    with unit_of_work() as conn:
        size = get_blob_store().write(conn, file_id, stream, get_settings().max_file_bytes)
        if size == 0:
            raise InvalidRequestError("File is empty.", param="file", code="empty_file")
        return repository.insert(conn, FILES, {
            "id": file_id,
            "project_id": project_id,
            "created_at": created_at,
            "bytes": size,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": created_at + expires_after["seconds"] if expires_after else None,
        })


def get_file(project_id: str, file_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, FILES, {"project_id": project_id}, file_id, "file_id")


def file_content(project_id: str, file_id: str) -> tuple[dict[str, Any], Iterator[bytes]]:
    file = get_file(project_id, file_id)
    return file, get_blob_store().read(file_id)


def delete_file(project_id: str, file_id: str) -> dict[str, Any]:
    """The file goes, and with it its place in every vector store (chunks removed after)."""
    with unit_of_work() as conn:
        repository.delete(conn, FILES, {"project_id": project_id}, file_id, "file_id")
        stores = files.remove_from_vector_stores(conn, project_id, file_id)
        get_blob_store().delete(conn, file_id)
    for vector_store_id in stores:
        tasks.send_delete_indexed_file(vector_store_id, file_id)
    return deleted(file_id, "file")


def list_files(project_id: str, query: PageQuery, purpose: str | None = None) -> Page:
    scope = {"project_id": project_id}
    if purpose is not None:
        scope["purpose"] = purpose
    with reading() as conn:
        return repository.page(conn, FILES, scope, query)


def require_file(conn: Conn, project_id: str, file_id: str, param: str) -> None:
    check_id("file", file_id, param)
    if not files.exists(conn, project_id, file_id):
        raise InvalidRequestError(f"No file found with id '{file_id}'.", param=param)


def require_files(conn: Conn, project_id: str, file_ids: list[str], param: str) -> None:
    for index, file_id in enumerate(file_ids):
        require_file(conn, project_id, file_id, f"{param}[{index}]")
