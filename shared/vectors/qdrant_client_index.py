"""The server adapter: a Qdrant server through qdrant-client (or its local mode, for tests).

One collection (``treadle_<name>``) holds the chunks of every vector store: named vectors
``dense`` (cosine) and ``sparse`` (IDF modifier); payload indexes on vector_store_id (a
tenant index), file_id and each attribute key as it first appears; HNSW graphs per vector
store and none global (m=0, payload_m=16: Qdrant's multitenancy setup, so every search
must name its vector stores, as they all do). Hybrid search is one Query API call:
two prefetches fused by ``RrfQuery(rrf=Rrf(k=RRF_K))``, which needs Qdrant server 1.16 or
newer (the first with a configurable RRF k).

qdrant-client's local mode (``QdrantClient(location=":memory:")`` or ``path=...``) serves the
same calls in pure Python with brute-force search: fine for tests, far too slow for real
collections (hundreds of milliseconds a query at 10,000 chunks), and, like the edge engine,
one process per ``path`` (portalocker). Payload indexes mean nothing there and are skipped.
QdrantClient (REST, httpx) may be shared between threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse

from shared.vectors import common
from shared.vectors.filters import And, Cond, Match, to_client
from shared.vectors.plan import Rrf, Sparse, Stage, search_plan
from shared.vectors.sparse import SparseVector
from shared.vectors.types import AttributeValue, Chunk, Hit, SearchMode, VectorIndexError

# Payload indexes other than the tenant one build no HNSW links (see edge_index.py).
_SCHEMA: dict[str, Callable[[], m.KeywordIndexParams | m.FloatIndexParams | m.IntegerIndexParams]]
_SCHEMA = {
    "keyword": lambda: m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
    "float": lambda: m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False),
    "integer": lambda: m.IntegerIndexParams(
        type=m.IntegerIndexType.INTEGER, lookup=True, range=False, enable_hnsw=False
    ),
}


class QdrantClientIndex:
    def __init__(self, client: QdrantClient, collection: str, dimensions: int):
        self.client = client
        self.collection = collection
        self.dimensions = int(dimensions)
        self._local = _is_local(client)
        self._ensure_collection()
        schema = self.client.get_collection(collection).payload_schema or {}
        self._indexed: set[str] = set(schema)

    @classmethod
    def connect(
        cls,
        url: str,
        dimensions: int,
        *,
        collection: str = "treadle_chunks",
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> QdrantClientIndex:
        if url == ":memory:":
            client = QdrantClient(location=":memory:")
        else:
            client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout))
        return cls(client, collection, dimensions)

    @classmethod
    def local(
        cls, dimensions: int, *, path: str | None = None, collection: str = "treadle_chunks"
    ) -> QdrantClientIndex:
        """qdrant-client's local mode: in memory, or persisted under ``path``."""
        client = QdrantClient(path=path) if path else QdrantClient(location=":memory:")
        return cls(client, collection, dimensions)

    def _ensure_collection(self) -> None:
        if self.client.collection_exists(self.collection):
            self._check_dimensions()
            return
        try:
            self.client.create_collection(
                self.collection,
                vectors_config={
                    common.DENSE: m.VectorParams(size=self.dimensions, distance=m.Distance.COSINE)
                },
                hnsw_config=m.HnswConfigDiff(
                    m=common.HNSW_M,
                    payload_m=common.HNSW_PAYLOAD_M,
                    ef_construct=common.HNSW_EF_CONSTRUCT,
                    full_scan_threshold=common.HNSW_FULL_SCAN_KB,
                ),
                sparse_vectors_config={
                    common.SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)
                },
            )
        except (UnexpectedResponse, ValueError) as exc:
            # Another process created it between our check and our create.
            if not self.client.collection_exists(self.collection):
                raise VectorIndexError(f"cannot create {self.collection}: {exc}") from exc
            self._check_dimensions()
            return
        if not self._local:
            self.client.create_payload_index(
                self.collection,
                common.VECTOR_STORE_ID,
                m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True),
            )
            self.client.create_payload_index(self.collection, common.FILE_ID, _SCHEMA["keyword"]())

    def _check_dimensions(self) -> None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        params = vectors.get(common.DENSE) if isinstance(vectors, dict) else None
        if params is None or params.size != self.dimensions:
            size = getattr(params, "size", None)
            raise VectorIndexError(
                f"collection {self.collection} holds {size}-dimensional '{common.DENSE}'"
                f" vectors, not {self.dimensions}"
            )

    # --- writes ---------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            common.check_chunk(chunk, self.dimensions)
        self._index_attributes([chunk.attributes for chunk in chunks])
        for start in range(0, len(chunks), common.UPSERT_BATCH):
            batch = chunks[start : start + common.UPSERT_BATCH]
            self.client.upsert(self.collection, [_point(c) for c in batch], wait=True)

    def _index_attributes(self, attribute_sets: Sequence[Mapping[str, AttributeValue]]) -> None:
        if self._local:
            return
        for path, kind in common.new_index_fields(attribute_sets, self._indexed).items():
            self.client.create_payload_index(self.collection, path, _SCHEMA[kind](), wait=True)
            self._indexed.add(path)

    def set_attributes(
        self, vector_store_id: str, file_id: str, attributes: Mapping[str, AttributeValue]
    ) -> None:
        fields = common.attributes_payload(attributes)  # raises ValueError on a bad value
        self._index_attributes([attributes])
        # The points change in place (no chunk is deleted or written again), so searches
        # find the file throughout; one racing this may see some chunks still unchanged.
        self.client.set_payload(
            self.collection,
            fields,
            points=m.FilterSelector(
                filter=to_client(common.file_points(vector_store_id, file_id))
            ),
            wait=True,
        )

    def delete_file(self, vector_store_id: str, file_id: str) -> None:
        self._delete(common.file_points(vector_store_id, file_id))

    def delete_store(self, vector_store_id: str) -> None:
        self._delete(Match(common.VECTOR_STORE_ID, vector_store_id))

    def _delete(self, cond: Cond) -> None:
        self.client.delete(self.collection, m.FilterSelector(filter=to_client(cond)), wait=True)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> QdrantClientIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ----------------------------------------------------------------------------

    def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        cond: Cond = Match(common.VECTOR_STORE_ID, vector_store_id)
        if file_id is not None:
            cond = And((cond, Match(common.FILE_ID, file_id)))
        return self.client.count(self.collection, count_filter=to_client(cond), exact=True).count

    def search(
        self,
        vector_store_ids: Sequence[str],
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
        mode: SearchMode = "hybrid",
        *,
        file_ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        plan = search_plan(
            vector_store_ids, dense, sparse, limit, filters, score_threshold, mode, file_ids,
            self.dimensions,
        )
        if plan is None:
            return []
        root = _stage(plan.root)
        response = self.client.query_points(
            self.collection,
            query=root["query"],
            using=root["using"],
            prefetch=root["prefetch"],
            query_filter=root["filter"],
            limit=plan.root.limit,
            with_payload=common.RETURNED_FIELDS,
            score_threshold=root["score_threshold"],
        )
        return common.scored_hits(
            [(p.payload, p.score) for p in response.points], plan.mode, plan.score_threshold
        )


def _stage(stage: Stage) -> dict[str, Any]:
    """A plan stage as `Prefetch` takes it (`query_points` names the filter `query_filter`)."""
    query: Any
    using: str | None
    if isinstance(stage.query, Rrf):
        query, using = m.RrfQuery(rrf=m.Rrf(k=stage.query.k)), None
    elif isinstance(stage.query, Sparse):
        vector = stage.query.vector
        query = m.SparseVector(indices=list(vector.indices), values=list(vector.values))
        using = common.SPARSE
    else:
        query, using = stage.query.vector, common.DENSE
    return {
        "query": query,
        "using": using,
        "prefetch": [m.Prefetch(limit=p.limit, **_stage(p)) for p in stage.prefetches] or None,
        "filter": to_client(stage.filter) if stage.filter is not None else None,
        "score_threshold": stage.score_threshold,
    }


def _is_local(client: QdrantClient) -> bool:
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), QdrantLocal)


def _point(chunk: Chunk) -> m.PointStruct:
    vector: dict[str, Any] = {common.DENSE: common.dense_list(chunk.dense)}
    if chunk.sparse.indices:
        vector[common.SPARSE] = m.SparseVector(
            indices=list(chunk.sparse.indices), values=list(chunk.sparse.values)
        )
    return m.PointStruct(
        id=common.point_id(chunk.vector_store_id, chunk.file_id, chunk.index),
        vector=vector,
        payload=common.payload(chunk),
    )
