"""Vector stores, their files and file batches, as the API sees them.

Rows are written here and ingest tasks sent after the commit; the ingest pool parses, chunks,
embeds and indexes. Counts and statuses of stores and batches are derived from their files'
rows when read, so they can never drift from them.
"""
import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

from shared.clock import now
from shared.errors import InvalidRequestError
from shared.files.blobs import get_blob_store
from shared.files.service import require_file
from shared.objects import deleted
from shared.platform import rpc, tasks
from shared.storage import repository
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import FILE_BATCHES, VECTOR_STORE_FILES, VECTOR_STORES

AUTO_CHUNKING = {"type": "static",
                 "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")
DAY = 86_400
# Stores made by the thread helpers (attachments, tool_resources on threads) expire a week
# after their last use unless told otherwise, as OpenAI's do.
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


def parsed_text_key(vector_store_id: str, file_id: str) -> str:
    """Blob store key of the text the ingest pool extracted from a file of a store."""
    return f"parsed-{vector_store_id}-{file_id}"


def ingest_lock_key(vector_store_id: str, file_id: str) -> str:
    """Postgres advisory lock held by a transaction that sent an ingest task before it
    committed; the task waits on it (see `_ingest_on_commit`)."""
    return f"ingest:{vector_store_id}:{file_id}"


def chunking_as_stored(strategy: dict[str, Any] | None) -> dict[str, Any]:
    """Auto is reported as the static sizes it stands for, as OpenAI does."""
    if not strategy or strategy.get("type") == "auto":
        return AUTO_CHUNKING
    return {"type": "static", "static": dict(strategy["static"])}


def _counts(conn: Conn, column: str, ids: list[str]) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        f"SELECT {column} AS owner, status, count(*) AS n, sum(usage_bytes) AS bytes "
        f"FROM vector_store_files WHERE {column} = ANY(%s) GROUP BY {column}, status",
        (ids,),
    ).fetchall()
    counts: dict[str, dict[str, int]] = {
        i: {**{s: 0 for s in FILE_STATUSES}, "total": 0, "usage_bytes": 0} for i in ids}
    for row in rows:
        entry = counts[row["owner"]]
        entry[row["status"]] = row["n"]
        entry["total"] += row["n"]
        if row["status"] == "completed":
            entry["usage_bytes"] += int(row["bytes"] or 0)
    return counts


def _stores(conn: Conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = _counts(conn, "vector_store_id", [r["id"] for r in rows])
    moment = now()
    for row in rows:
        entry = counts[row["id"]]
        row["usage_bytes"] = entry.pop("usage_bytes")
        row["file_counts"] = entry
        after = row["expires_after"]
        anchor = row["last_active_at"] or row["created_at"]
        row["expires_at"] = anchor + after["days"] * DAY if after else None
        if row["expires_at"] is not None and row["expires_at"] <= moment:
            row["status"] = "expired"
        else:
            row["status"] = "in_progress" if entry["in_progress"] else "completed"
    return rows


def _batches(conn: Conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = _counts(conn, "batch_id", [r["id"] for r in rows])
    for row in rows:
        entry = counts[row["id"]]
        entry.pop("usage_bytes")
        row["file_counts"] = entry
        if row["cancelled"]:
            row["status"] = "cancelled"
        elif entry["in_progress"]:
            row["status"] = "in_progress"
        elif entry["total"] and entry["failed"] == entry["total"]:
            row["status"] = "failed"
        else:
            row["status"] = "completed"
    return rows


def _store(conn: Conn, project_id: str, vector_store_id: str, lock: bool = False
           ) -> dict[str, Any]:
    return repository.get(conn, VECTOR_STORES, {"project_id": project_id}, vector_store_id,
                          "vector_store_id", for_share=lock)


def _attach(conn: Conn, project_id: str, vector_store_id: str,
            files: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any] | None, str]],
            batch_id: str | None = None) -> list[dict[str, Any]]:
    """Put files into the store (again, if already there) as in_progress rows."""
    attached = []
    for file_id, strategy, attributes, param in files:
        require_file(conn, project_id, file_id, param)
        row = conn.execute(
            "INSERT INTO vector_store_files (id, project_id, vector_store_id, batch_id, "
            "created_at, status, chunking_strategy, attributes) "
            "VALUES (%s, %s, %s, %s, %s, 'in_progress', %s, %s) "
            "ON CONFLICT (vector_store_id, id) DO UPDATE SET status = 'in_progress', "
            "batch_id = EXCLUDED.batch_id, last_error = NULL, usage_bytes = 0, "
            "chunking_strategy = EXCLUDED.chunking_strategy, "
            "attributes = EXCLUDED.attributes, "
            "generation = vector_store_files.generation + 1 RETURNING *",
            (file_id, project_id, vector_store_id, batch_id, now(),
             repository.bind("chunking_strategy", chunking_as_stored(strategy)),
             repository.bind("attributes", attributes or {})),
        ).fetchone()
        assert row is not None
        attached.append(row)
    return attached


def _ingest(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        tasks.send_ingest(row["vector_store_id"], row["id"], row["generation"])


def _ingest_on_commit(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """Send ingest tasks from inside a transaction owned by a caller (thread, run and
    assistant creation), which commits only after this returns.

    Each row's advisory lock is taken first and held until that transaction ends; the task
    takes it shared before reading the row, so it reads the row once committed, or finds
    nothing after a rollback, and never looks too early.
    """
    for row in rows:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (ingest_lock_key(row["vector_store_id"], row["id"]),))
    _ingest(rows)


def _insert_store(conn: Conn, project_id: str, fields: dict[str, Any], param: str = ""
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new store and its files' rows; `param` prefixes error params for nested input."""
    store = repository.insert(conn, VECTOR_STORES, {
        "project_id": project_id, "created_at": now(), "last_active_at": now(),
        "name": fields.get("name") or "", "description": fields.get("description"),
        "expires_after": fields.get("expires_after"),
        "metadata": fields.get("metadata") or {},
    })
    strategy = fields.get("chunking_strategy")
    rows = _attach(conn, project_id, store["id"], (
        (file_id, strategy, None, f"{param}file_ids[{i}]")
        for i, file_id in enumerate(fields.get("file_ids") or [])))
    return store, rows


def create_vector_store(project_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        store, rows = _insert_store(conn, project_id, fields)
        store = _stores(conn, [store])[0]
    _ingest(rows)
    return store


def create_from_helper(conn: Conn, project_id: str, helper: dict[str, Any], param: str,
                       expires_after: dict[str, Any] | None = None) -> str:
    """The `tool_resources.file_search.vector_stores` helper: a store made in the caller's
    transaction; its id goes into the object's vector_store_ids."""
    store, rows = _insert_store(conn, project_id, {**helper, "expires_after": expires_after},
                                f"{param}.")
    _ingest_on_commit(conn, rows)
    return str(store["id"])


def add_thread_files(conn: Conn, project_id: str, thread_id: str,
                     files: list[tuple[str, str]]) -> None:
    """Files attached to a message for file_search go into the thread's vector store, made
    (and named in the thread's tool_resources) on first use. `files`: (file_id, param)."""
    thread = conn.execute("SELECT tool_resources FROM threads WHERE id = %s FOR UPDATE",
                          (thread_id,)).fetchone()
    assert thread is not None
    resources = dict(thread["tool_resources"] or {})
    store_ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    store_id = store_ids[0] if store_ids else None
    # A store that is gone or has expired is replaced, as the thread's store can no longer
    # serve searches.
    if store_id is None or conn.execute(
            "SELECT 1 FROM vector_stores WHERE id = %s AND project_id = %s "
            "AND (expires_after IS NULL OR COALESCE(last_active_at, created_at) "
            "+ (expires_after->>'days')::bigint * %s > %s)",
            (store_id, project_id, DAY, now())).fetchone() is None:
        store, _ = _insert_store(conn, project_id, {
            "name": f"Vector store for {thread_id}", "expires_after": THREAD_STORE_EXPIRY})
        store_id = store["id"]
        resources["file_search"] = {"vector_store_ids": [store_id]}
        conn.execute("UPDATE threads SET tool_resources = %s WHERE id = %s",
                     (repository.bind("tool_resources", resources), thread_id))
    present = {row["id"] for row in conn.execute(
        "SELECT id FROM vector_store_files WHERE vector_store_id = %s AND id = ANY(%s) "
        "AND status IN ('in_progress', 'completed')",
        (store_id, [file_id for file_id, _ in files])).fetchall()}
    wanted = {file_id: param for file_id, param in files if file_id not in present}
    rows = _attach(conn, project_id, store_id,
                   ((file_id, None, None, param) for file_id, param in wanted.items()))
    _ingest_on_commit(conn, rows)


def get_vector_store(project_id: str, vector_store_id: str) -> dict[str, Any]:
    with reading() as conn:
        return _stores(conn, [_store(conn, project_id, vector_store_id)])[0]


def list_vector_stores(project_id: str, query: PageQuery) -> Page:
    with reading() as conn:
        page = repository.page(conn, VECTOR_STORES, {"project_id": project_id}, query)
        _stores(conn, page.data)
        return page


def modify_vector_store(project_id: str, vector_store_id: str, changes: dict[str, Any]
                        ) -> dict[str, Any]:
    with unit_of_work() as conn:
        if "name" in changes:
            changes = {**changes, "name": changes["name"] or ""}
        row = repository.update(conn, VECTOR_STORES, {"project_id": project_id},
                                vector_store_id, "vector_store_id", changes)
        return _stores(conn, [row])[0]


def delete_vector_store(project_id: str, vector_store_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        files = conn.execute(
            "SELECT id FROM vector_store_files WHERE vector_store_id = %s AND project_id = %s",
            (vector_store_id, project_id)).fetchall()
        repository.delete(conn, VECTOR_STORES, {"project_id": project_id}, vector_store_id,
                          "vector_store_id")
        for row in files:
            get_blob_store().delete(conn, parsed_text_key(vector_store_id, row["id"]))
    tasks.send_delete_indexed_store(vector_store_id)
    return deleted(vector_store_id, "vector_store.deleted")


def add_file(project_id: str, vector_store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        _store(conn, project_id, vector_store_id, lock=True)
        rows = _attach(conn, project_id, vector_store_id, [(
            fields["file_id"], fields.get("chunking_strategy"), fields.get("attributes"),
            "file_id")])
    _ingest(rows)
    return rows[0]


def _file_scope(conn: Conn, project_id: str, vector_store_id: str) -> dict[str, str]:
    _store(conn, project_id, vector_store_id)
    return {"project_id": project_id, "vector_store_id": vector_store_id}


def get_file(project_id: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
    with reading() as conn:
        return repository.get(conn, VECTOR_STORE_FILES,
                              _file_scope(conn, project_id, vector_store_id), file_id, "file_id")


def list_files(project_id: str, vector_store_id: str, query: PageQuery,
               status: str | None = None, batch_id: str | None = None) -> Page:
    with reading() as conn:
        scope: dict[str, Any] = _file_scope(conn, project_id, vector_store_id)
        if batch_id is not None:
            repository.get(conn, FILE_BATCHES, scope, batch_id, "batch_id")
            scope["batch_id"] = batch_id
        if status is not None:
            scope["status"] = status
        return repository.page(conn, VECTOR_STORE_FILES, scope, query)


def file_content(project_id: str, vector_store_id: str, file_id: str) -> Iterator[bytes]:
    """The parsed text of a completed file as a `vector_store.file_content.page`, written
    piece by piece so a large text never sits whole in memory; files not (yet) parsed have
    no content."""
    with reading() as conn:
        row = repository.get(conn, VECTOR_STORE_FILES,
                             _file_scope(conn, project_id, vector_store_id), file_id, "file_id")
    parts = get_blob_store().read(parsed_text_key(vector_store_id, file_id))
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
    with unit_of_work() as conn:
        scope = _file_scope(conn, project_id, vector_store_id)
        row = repository.update(conn, VECTOR_STORE_FILES, scope, file_id, "file_id",
                                {"attributes": attributes or {}})
    if row["status"] == "completed":
        tasks.send_refresh_attributes(vector_store_id, file_id)
    return row


def remove_file(project_id: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _file_scope(conn, project_id, vector_store_id)
        repository.delete(conn, VECTOR_STORE_FILES, scope, file_id, "file_id")
        get_blob_store().delete(conn, parsed_text_key(vector_store_id, file_id))
    tasks.send_delete_indexed_file(vector_store_id, file_id)
    return deleted(file_id, "vector_store.file.deleted")


def create_batch(project_id: str, vector_store_id: str, fields: dict[str, Any]
                 ) -> dict[str, Any]:
    strategy, attributes = fields.get("chunking_strategy"), fields.get("attributes")
    entries = [(file_id, strategy, attributes, f"file_ids[{i}]")
               for i, file_id in enumerate(fields.get("file_ids") or [])]
    entries += [(f["file_id"], f.get("chunking_strategy") or strategy,
                 f.get("attributes") or attributes, f"files[{i}].file_id")
                for i, f in enumerate(fields.get("files") or [])]
    if not entries:
        raise InvalidRequestError("Give file_ids or files.", param="file_ids")
    with unit_of_work() as conn:
        _store(conn, project_id, vector_store_id, lock=True)
        batch = repository.insert(conn, FILE_BATCHES, {
            "project_id": project_id, "vector_store_id": vector_store_id,
            "created_at": now()})
        rows = _attach(conn, project_id, vector_store_id, entries, batch["id"])
        batch = _batches(conn, [batch])[0]
    _ingest(rows)
    return batch


def get_batch(project_id: str, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    with reading() as conn:
        scope = _file_scope(conn, project_id, vector_store_id)
        return _batches(conn, [repository.get(conn, FILE_BATCHES, scope, batch_id,
                                              "batch_id")])[0]


def cancel_batch(project_id: str, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        scope = _file_scope(conn, project_id, vector_store_id)
        batch = repository.update(conn, FILE_BATCHES, scope, batch_id, "batch_id",
                                  {"cancelled": True})
        conn.execute("UPDATE vector_store_files SET status = 'cancelled' "
                     "WHERE batch_id = %s AND status = 'in_progress'", (batch_id,))
        return _batches(conn, [batch])[0]


def search(project_id: str, vector_store_id: str, request: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as conn:
        store = _stores(conn, [_store(conn, project_id, vector_store_id)])[0]
        if store["status"] == "expired":
            # Using it would move last_active_at and bring it back: an expired store stays so.
            raise InvalidRequestError(f"Vector store {vector_store_id} has expired.",
                                      param="vector_store_id")
        conn.execute("UPDATE vector_stores SET last_active_at = %s WHERE id = %s",
                     (now(), vector_store_id))
    queries = request["query"] if isinstance(request["query"], list) else [request["query"]]
    ranking = request.get("ranking_options") or {}
    result = rpc.call(tasks.SEARCH, {
        "vector_store_ids": [vector_store_id], "queries": queries,
        "rewrite": bool(request.get("rewrite_query")), "filters": request.get("filters"),
        "limit": request.get("max_num_results", 10),
        "score_threshold": ranking.get("score_threshold"),
        "ranker": ranking.get("ranker", "auto"),
    })
    return {"object": "vector_store.search_results.page", "search_query": result["queries"],
            "data": [{"file_id": h["file_id"], "filename": h["filename"], "score": h["score"],
                      "attributes": h["attributes"],
                      "content": [{"type": "text", "text": h["text"]}]}
                     for h in result["hits"]],
            "has_more": False, "next_page": None}
