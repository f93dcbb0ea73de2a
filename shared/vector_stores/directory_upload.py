"""Bulk ingest of a directory into a vector store, for `treadle files upload`.

Each file goes through the same services as `POST /v1/files` and
`POST /v1/vector_stores/{id}/files`, in the project that owns the vector store, so the
ingest pool indexes it exactly as it would an upload through the API.
"""
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.errors import NotFoundError, TreadleError
from shared.files import service as files
from shared.storage.db import reading
from shared.vector_stores import files as store_files
from shared.vector_stores import repository


@dataclass
class Uploaded:
    path: Path
    file_id: str | None = None
    error: str | None = None


def store_project(vector_store_id: str) -> str:
    with reading() as conn:
        project_id = repository.project_of_store(conn, vector_store_id)
    if project_id is None:
        raise NotFoundError(f"No vector store found with id '{vector_store_id}'.",
                            param="vector_store_id")
    return project_id


def files_in(directory: Path) -> list[Path]:
    """Every regular file below `directory`, hidden ones (and hidden folders) left out."""
    return sorted(p for p in directory.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def upload(project_id: str, vector_store_id: str, paths: list[Path]) -> Iterator[Uploaded]:
    """Store each file and add it to the store (enqueuing its ingest), one result per path."""
    for path in paths:
        try:
            with path.open("rb") as stream:
                stored = files.create_file(project_id, stream, path.name, "assistants")
            store_files.add_file(project_id, vector_store_id, {"file_id": stored["id"]})
        except (TreadleError, OSError) as error:
            yield Uploaded(path, error=str(error))
            continue
        yield Uploaded(path, file_id=stored["id"])


def ingest_states(vector_store_id: str, file_ids: list[str]) -> dict[str, int]:
    """How many of these files are in each ingest status."""
    with reading() as conn:
        return repository.status_counts(conn, vector_store_id, file_ids)
