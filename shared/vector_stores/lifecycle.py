"""Every status change of a vector store file or file batch, one function each: the
services of this package and the ingest pool call only these.

Each is a compare-and-set whose UPDATE names the statuses it may leave (`states.sources`),
and an ingest outcome counts only for the generation its task was sent for, so a task
made stale by a resubmission, a cancel or a removal changes nothing. Moves made inside an
API call take the caller's transaction (`conn`); those of the ingest pool own theirs.
"""
import io
from typing import Any

from shared.clock import now
from shared.files.blobs import get_blob_store
from shared.platform import tasks
from shared.storage.db import Conn, unit_of_work
from shared.vector_stores import repository, states


def parsed_text_key(vector_store_id: str, file_id: str) -> str:
    """Blob store key of the text the ingest pool extracted from a file of a store."""
    return f"parsed-{vector_store_id}-{file_id}"


def submit(conn: Conn, project_id: str, vector_store_id: str, file_id: str,
           chunking_strategy: dict[str, Any], attributes: dict[str, Any],
           batch_id: str | None = None) -> dict[str, Any]:
    """A file put into the store, or put in again: in_progress on a new generation, its
    last outcome cleared. Its ingest is sent once the caller commits (`send_ingest`)."""
    row = repository.submit_file(conn, {
        "id": file_id, "project_id": project_id, "vector_store_id": vector_store_id,
        "batch_id": batch_id, "created_at": now(), "chunking_strategy": chunking_strategy,
        "attributes": attributes,
    }, states.sources("file", "in_progress"))
    # Every status may move to in_progress, so the row is always written.
    assert row is not None
    return row


def send_ingest(rows: list[dict[str, Any]]) -> None:
    """The ingest tasks of submitted files, after the transaction that submitted them."""
    for row in rows:
        tasks.send_ingest(row["vector_store_id"], row["id"], row["generation"])


def send_ingest_on_commit(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """Send ingest tasks from inside a transaction owned by a caller (thread, run and
    assistant creation), which commits only after this returns.

    Each row's ingest lock is taken first and held until that transaction ends; the task
    waits for it (`begin_ingest`) before reading the row, so it reads the row once
    committed, or finds nothing after a rollback, and never looks too early.
    """
    for row in rows:
        repository.lock_ingest(conn, row["vector_store_id"], row["id"])
    send_ingest(rows)


def begin_ingest(vector_store_id: str, file_id: str, generation: int
                 ) -> dict[str, Any] | None:
    """The row (with its filename) an ingest task is to index; None when the task is stale:
    the file was removed, put in again or ended meanwhile."""
    with unit_of_work() as conn:
        repository.await_ingest_lock(conn, vector_store_id, file_id)
        row = repository.ingest_row(conn, vector_store_id, file_id, generation)
    return row if row is not None and row["status"] == "in_progress" else None


def complete(vector_store_id: str, file_id: str, generation: int, text: str) -> bool:
    """in_progress -> completed, its parsed text kept for the content endpoint; False when
    the file was cancelled, removed or put in again meanwhile."""
    encoded = text.encode()
    with unit_of_work() as conn:
        if not repository.end_file(conn, vector_store_id, file_id, generation, "completed",
                                   len(encoded), None, states.sources("file", "completed")):
            return False
        key = parsed_text_key(vector_store_id, file_id)
        blobs = get_blob_store()
        blobs.delete(conn, key)
        blobs.write(conn, key, io.BytesIO(encoded), len(encoded))
    return True


def fail(vector_store_id: str, file_id: str, generation: int, last_error: dict[str, str]
         ) -> bool:
    """in_progress -> failed with `last_error`; False as for `complete`."""
    with unit_of_work() as conn:
        return repository.end_file(conn, vector_store_id, file_id, generation, "failed", 0,
                                   last_error, states.sources("file", "failed"))


def cancel_batch(conn: Conn, batch_id: str) -> bool:
    """A batch not cancelled yet -> cancelled (every other status may be: its flag is all a
    batch stores of its status), its files in progress -> cancelled. True if this call
    cancelled the batch; a repeated cancel finds none of its files in progress (a file
    added again leaves the batch; new attributes move no file)."""
    cancelled = repository.cancel_batch(conn, batch_id)
    repository.cancel_batch_files(conn, batch_id, states.sources("file", "cancelled"))
    return cancelled


def settle_batches(conn: Conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each batch's file counts and the status they settle it in, read from its files'
    rows when asked, so they can never drift from them."""
    counts = repository.file_counts(conn, "batch_id", [r["id"] for r in rows])
    for row in rows:
        entry = counts[row["id"]]
        entry.pop("usage_bytes")
        row["file_counts"] = entry
        row["status"] = states.batch_status(row["cancelled"], entry)
    return rows
