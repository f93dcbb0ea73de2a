"""File batches of a vector store: many files added at once, followed and cancelled as one."""
from typing import Any

from shared.clock import now
from shared.errors import InvalidRequestError
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.vector_stores import lifecycle, repository
from shared.vector_stores.files import Entry, attach


def create_batch(project_id: str, vector_store_id: str, fields: dict[str, Any]
                 ) -> dict[str, Any]:
    strategy, attributes = fields.get("chunking_strategy"), fields.get("attributes")
    entries: list[Entry] = [(file_id, strategy, attributes, f"file_ids[{i}]")
                            for i, file_id in enumerate(fields.get("file_ids") or [])]
    entries += [(f["file_id"], f.get("chunking_strategy") or strategy,
                 f.get("attributes") or attributes, f"files[{i}].file_id")
                for i, f in enumerate(fields.get("files") or [])]
    if not entries:
        raise InvalidRequestError("Give file_ids or files.", param="file_ids")
    with unit_of_work() as conn:
        repository.store(conn, project_id, vector_store_id, lock=True)
        batch = tables.insert(conn, tables.FILE_BATCHES, {
            "project_id": project_id, "vector_store_id": vector_store_id,
            "created_at": now()})
        rows = attach(conn, project_id, vector_store_id, entries, batch["id"])
        batch = lifecycle.settle_batches(conn, [batch])[0]
    lifecycle.send_ingest(rows)
    return batch


def get_batch(project_id: str, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    with reading() as conn:
        scope = repository.file_scope(conn, project_id, vector_store_id)
        return lifecycle.settle_batches(
            conn, [tables.get(conn, tables.FILE_BATCHES, scope, batch_id, "batch_id")])[0]


def cancel_batch(project_id: str, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    """Cancel the batch and its files still in progress; a cancelled batch stays so."""
    with unit_of_work() as conn:
        scope = repository.file_scope(conn, project_id, vector_store_id)
        batch = tables.get(conn, tables.FILE_BATCHES, scope, batch_id, "batch_id")
        lifecycle.cancel_batch(conn, batch_id)
        return lifecycle.settle_batches(conn, [{**batch, "cancelled": True}])[0]
