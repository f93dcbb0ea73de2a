"""The files of a vector store, as the API sees them: added (indexed by the ingest pool),
read, their parsed text, their attributes, removed."""
import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared.errors import NotFoundError
from shared.files.blobs import get_blob_store
from shared.files.service import require_file
from shared.objects import deleted
from shared.platform import tasks
from shared.storage import repository as tables
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.vector_stores import lifecycle, repository

AUTO_CHUNKING = {"type": "static",
                 "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
# (file_id, chunking_strategy, attributes, param naming the file_id in errors)
Entry = tuple[str, dict[str, Any] | None, dict[str, Any] | None, str]


def chunking_as_stored(strategy: dict[str, Any] | None) -> dict[str, Any]:
    """Auto is reported as the static sizes it stands for, as OpenAI does."""
    if not strategy or strategy.get("type") == "auto":
        return AUTO_CHUNKING
    return {"type": "static", "static": dict(strategy["static"])}


def attach(conn: Conn, project_id: str, vector_store_id: str, entries: Iterable[Entry],
           batch_id: str | None = None) -> list[dict[str, Any]]:
    """Put files into the store (again, if already there) as in_progress rows."""
    attached = []
    for file_id, strategy, attributes, param in entries:
        require_file(conn, project_id, file_id, param)
        attached.append(lifecycle.submit(conn, project_id, vector_store_id, file_id,
                                         chunking_as_stored(strategy), attributes or {},
                                         batch_id))
    return attached


def add_file(project_id: str, vector_store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        repository.store(conn, project_id, vector_store_id, lock=True)
        rows = attach(conn, project_id, vector_store_id, [(
            fields["file_id"], fields.get("chunking_strategy"), fields.get("attributes"),
            "file_id")])
    lifecycle.send_ingest(rows)
    return rows[0]


def get_file(project_id: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
    with reading() as conn:
        return tables.get(conn, tables.VECTOR_STORE_FILES,
                          repository.file_scope(conn, project_id, vector_store_id), file_id,
                          "file_id")


def list_files(project_id: str, vector_store_id: str, query: PageQuery,
               status: str | None = None, batch_id: str | None = None) -> Page:
    with reading() as conn:
        scope: dict[str, Any] = repository.file_scope(conn, project_id, vector_store_id)
        if batch_id is not None:
            tables.get(conn, tables.FILE_BATCHES, scope, batch_id, "batch_id")
            scope["batch_id"] = batch_id
        if status is not None:
            scope["status"] = status
        return tables.page(conn, tables.VECTOR_STORE_FILES, scope, query)


def file_content(project_id: str, vector_store_id: str, file_id: str) -> Iterator[bytes]:
    """The parsed text of a completed file as a `vector_store.file_content.page`, written
    piece by piece so a large text never sits whole in memory; files not (yet) parsed have
    no content."""
    with reading() as conn:
        row = tables.get(conn, tables.VECTOR_STORE_FILES,
                         repository.file_scope(conn, project_id, vector_store_id), file_id,
                         "file_id")
    parts = get_blob_store().read(lifecycle.parsed_text_key(vector_store_id, file_id))
    return _content_page(parts if row["status"] == "completed" else iter(()))


def _content_page(parts: Iterator[bytes]) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    opened = False
    for part in _unless_missing(parts):
        if not opened:
            yield b'{"object":"vector_store.file_content.page","data":[{"type":"text","text":"'
            opened = True
        text = decoder.decode(part)
        yield json.dumps(text, ensure_ascii=False)[1:-1].encode()
    if opened:
        yield json.dumps(decoder.decode(b"", final=True), ensure_ascii=False)[1:-1].encode()
        yield b'"}],"has_more":false,"next_page":null}'
    else:
        yield b'{"object":"vector_store.file_content.page","data":[],"has_more":false,' \
              b'"next_page":null}'


def _unless_missing(parts: Iterator[bytes]) -> Iterator[bytes]:
    # A directory blob store raises on a key it never stored (a file parsed before parsed
    # text was kept): such a file has no content, like one not parsed yet.
    try:
        yield from parts
    except FileNotFoundError:
        return


def update_file_attributes(project_id: str, vector_store_id: str, file_id: str,
                           attributes: dict[str, Any]) -> dict[str, Any]:
    """New attributes, stored now and written to the chunks of a completed file by the
    ingest pool (`apply_attributes`): no status change, the file stays readable and found
    by searches throughout. A file still in progress gets them from its ingest, which
    writes them once it has written its chunks."""
    with unit_of_work() as conn:
        scope = repository.file_scope(conn, project_id, vector_store_id)
        row = tables.update(conn, tables.VECTOR_STORE_FILES, scope, file_id, "file_id",
                            {"attributes": attributes or {}})
    if row["status"] == "completed":
        tasks.send_refresh_attributes(vector_store_id, file_id)
    return row


def apply_attributes(vector_store_id: str, file_id: str,
                     write: Callable[[dict[str, Any]], None], *,
                     generation: int | None = None,
                     written: dict[str, Any] | None = None) -> bool:
    """Hand the file's attributes, as its row holds them now, to `write` (the ingest pool's
    `VectorIndex.set_attributes`) if it is completed (at `generation`, when given) and they
    differ from those its chunks were `written` with; True if written.

    The row stays share-locked until `write` returns, so an update waits for the write
    under way, and the refresh it sends reads its attributes after: writes happen in the
    order their reads did, and the last carries the last attributes. Every update of a
    completed file sends a refresh; an update of a file in progress (the UPDATE and the
    ingest's `lifecycle.complete` take the row in turn, so it sees the file one way or the
    other) is picked up by the ingest, which calls this once the file is completed.
    """
    with unit_of_work() as conn:
        try:
            row = tables.get(conn, tables.VECTOR_STORE_FILES,
                             {"vector_store_id": vector_store_id}, file_id, "file_id",
                             for_share=True)
        except NotFoundError:
            return False
        if row["status"] != "completed" or generation not in (None, row["generation"]):
            return False
        if written is not None and row["attributes"] == written:
            return False
        write(row["attributes"])
    return True


def remove_file(project_id: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = repository.file_scope(conn, project_id, vector_store_id)
        tables.delete(conn, tables.VECTOR_STORE_FILES, scope, file_id, "file_id")
        get_blob_store().delete(conn, lifecycle.parsed_text_key(vector_store_id, file_id))
    tasks.send_delete_indexed_file(vector_store_id, file_id)
    return deleted(file_id, "vector_store.file.deleted")


def status_of(vector_store_id: str, file_id: str) -> str | None:
    """The file's status in the store; None once it is gone from it."""
    with reading() as conn:
        return repository.file_status(conn, vector_store_id, file_id)
