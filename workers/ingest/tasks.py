"""Tasks of the ingest pool: index files of vector stores, and answer searches.

The pool owns the vector engine: the embedded engine lets one process open its data, so
this process serves the `search` queue too (in threads), and the API and the runs pool
ask it over `shared.platform.rpc` instead of opening the data themselves.
"""
import logging
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import openai

from shared.config import get_settings
from shared.files.blobs import get_blob_store
from shared.platform import tasks
from shared.platform.rpc import answer
from shared.platform.tasks import app
from shared.storage.db import reading, unit_of_work
from shared.vector_stores import files, lifecycle
from shared.vector_stores.stores import stores_of_project
from shared.vectors import (
    Chunk,
    FilterError,
    SparseVector,
    VectorIndex,
    document_vector,
    open_index,
    query_vector,
)
from workers.ingest.chunking import iter_chunks
from workers.ingest.embeddings import get_embedder
from workers.ingest.extract import IngestError, extract_text
from workers.model import client as model_client
from workers.model import error_message

log = logging.getLogger(__name__)

EMBED_BATCH = 64
_index: VectorIndex | None = None
_index_lock = threading.Lock()


def vector_index() -> VectorIndex:
    """The process's one handle on the engine; the collection is named for the embedding
    width, so switching embedders never mixes vectors of two widths."""
    global _index
    with _index_lock:
        if _index is None:
            dimensions = get_embedder().dimensions
            _index = open_index(get_settings(), dimensions=dimensions,
                                name=f"chunks_{dimensions}")
        return _index


def _batches(chunks: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in chunks:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _index_chunks(index: VectorIndex, row: dict[str, Any], texts: Iterator[str]) -> None:
    """Embed and upsert the chunks batch by batch, the embedder one batch ahead: the model
    (or the endpoint) works on batch k while this thread cuts and keyword-vectors batch k+1
    and upserts batch k-1, so it never waits on the rest of the pipeline."""
    embedder = get_embedder()
    position = 0
    ahead: tuple[Future[list[list[float]]], list[str], list[SparseVector]] | None = None

    def write(embedding: Future[list[list[float]]], batch: list[str],
              sparse: list[SparseVector], first: int) -> None:
        index.upsert([
            Chunk(row["vector_store_id"], row["id"], row["filename"], first + i, t,
                  row["attributes"], d, k)
            for i, (t, d, k) in enumerate(zip(batch, embedding.result(), sparse, strict=True))])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as embedding:
        for batch in _batches(texts, EMBED_BATCH):
            future = embedding.submit(embedder.embed_documents, batch)
            sparse = [document_vector(t) for t in batch]
            if ahead is not None:
                write(*ahead, position - len(ahead[1]))
            ahead = (future, batch, sparse)
            position += len(batch)
        if ahead is not None:
            write(*ahead, position - len(ahead[1]))


@app.task(name=tasks.INGEST_FILE)
def ingest_file(vector_store_id: str, file_id: str, generation: int) -> None:
    """Parse, chunk, embed and index one file of a store; safe to run twice."""
    row = lifecycle.begin_ingest(vector_store_id, file_id, generation)
    if row is None:
        return
    index = vector_index()
    static = row["chunking_strategy"]["static"]
    try:
        with tempfile.NamedTemporaryFile() as copy:
            for part in get_blob_store().read(file_id):
                copy.write(part)
            copy.flush()
            text = extract_text(copy.name, row["filename"]).text
        index.delete_file(vector_store_id, file_id)
        chunks = iter_chunks(text, static["max_chunk_size_tokens"],
                             static["chunk_overlap_tokens"])
        _index_chunks(index, row, (c.text for c in chunks))
    except IngestError as error:
        lifecycle.fail(vector_store_id, file_id, generation, error.as_last_error())
        return
    except Exception:
        log.exception("ingesting %s into %s failed", file_id, vector_store_id)
        lifecycle.fail(vector_store_id, file_id, generation, {
            "code": "server_error", "message": "The file could not be indexed."})
        return
    if not lifecycle.complete(vector_store_id, file_id, generation, text):
        # Cancelled or removed while indexing: what was written is not wanted (a
        # resubmission writes over it itself).
        if files.status_of(vector_store_id, file_id) in (None, "cancelled"):
            index.delete_file(vector_store_id, file_id)
        return
    # Attributes updated while the chunks were written (no refresh is sent for a file in
    # progress) are written to them now; an update from here on sends its refresh.
    files.apply_attributes(
        vector_store_id, file_id,
        lambda attributes: index.set_attributes(vector_store_id, file_id, attributes),
        generation=generation, written=row["attributes"])


@app.task(name=tasks.DELETE_INDEXED_FILE)
def delete_file(vector_store_id: str, file_id: str) -> None:
    if files.status_of(vector_store_id, file_id) is None:
        vector_index().delete_file(vector_store_id, file_id)
        with unit_of_work() as conn:
            get_blob_store().delete(conn, lifecycle.parsed_text_key(vector_store_id, file_id))


@app.task(name=tasks.DELETE_INDEXED_STORE)
def delete_store(vector_store_id: str) -> None:
    vector_index().delete_store(vector_store_id)


@app.task(name=tasks.REFRESH_ATTRIBUTES)
def refresh_attributes(vector_store_id: str, file_id: str) -> None:
    """Attributes live in each chunk's payload for filtering: set them there in place, the
    file still completed, readable and found by searches. They are read when the task runs,
    so a late or repeated task writes the latest ones."""
    index = vector_index()
    files.apply_attributes(
        vector_store_id, file_id,
        lambda attributes: index.set_attributes(vector_store_id, file_id, attributes))


@app.task(name=tasks.SEARCH)
def search(channel: str, request_id: str, payload: dict[str, Any]) -> None:
    """Answer a search over vector stores: each query embedded, hybrid ranking, merged."""
    try:
        answer(channel, request_id, {"result": run_search(payload)})
    except FilterError as error:
        answer(channel, request_id,
               {"invalid_request": str(error), "param": getattr(error, "param", None)})
    except openai.OpenAIError as error:
        log.warning("query rewrite failed: %s", error)
        answer(channel, request_id,
               {"error": f"The query could not be rewritten. {error_message(error)}"})
    except Exception:
        log.exception("search failed")
        answer(channel, request_id, {"error": "The search could not be served."})


def run_search(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload["project_id"]` is whose search it is: stores of another project (or none
    named) are read as if they did not exist, whatever door let their ids through."""
    queries = payload["queries"]
    with reading() as conn:
        store_ids = stores_of_project(conn, payload.get("project_id") or "",
                                      payload["vector_store_ids"])
    if not store_ids:
        return {"queries": queries, "hits": []}
    index = vector_index()
    embedder = get_embedder()
    if payload.get("rewrite"):
        queries = [rewrite_query(query) for query in queries]
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for query in queries:
        hits = index.search(store_ids, embedder.embed_query(query),
                            query_vector(query), payload["limit"],
                            filters=payload.get("filters"),
                            score_threshold=payload.get("score_threshold"))
        for hit in hits:
            key = (hit.vector_store_id, hit.file_id, hit.index)
            if key not in best or best[key]["score"] < hit.score:
                best[key] = {"file_id": hit.file_id, "filename": hit.filename,
                             "score": hit.score, "text": hit.text,
                             "attributes": hit.attributes}
    ranked = sorted(best.values(), key=lambda h: h["score"], reverse=True)
    return {"queries": queries, "hits": ranked[: payload["limit"]]}


REWRITE_INSTRUCTIONS = (
    "Rewrite the user's message as a search query for a document search engine that "
    "combines keyword and semantic search. Keep every name, code, number and quoted phrase "
    "exactly as written, drop filler words, and answer with the query alone on one line."
)


def rewrite_query(query: str) -> str:
    """The query as the chat model rewrites it for retrieval (the original if it answers
    nothing usable)."""
    response = model_client().chat.completions.create(
        model=get_settings().query_rewrite_model,
        messages=[{"role": "system", "content": REWRITE_INSTRUCTIONS},
                  {"role": "user", "content": query}])
    content = response.choices[0].message.content if response.choices else None
    rewritten = (content or "").strip().splitlines()
    return rewritten[0].strip().strip('"') if rewritten and rewritten[0].strip() else query
