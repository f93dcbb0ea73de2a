"""The embedded adapter: Qdrant's in-process engine, qdrant-edge-py, in one directory.

One EdgeShard holds the chunks of every vector store: named vectors ``dense`` (cosine) and
``sparse`` (IDF modifier); payload indexes on vector_store_id (a tenant index), file_id,
and each attribute key as it first appears (`common.MAX_ATTRIBUTE_INDEXES`); HNSW graphs
per vector store, none global (`common.HNSW_*`). What callers must know (measured with
qdrant-edge-py 0.9.0):

- One owner. Opening takes an exclusive lock on the shard's write-ahead log: a second open
  of the same directory, from this process or another, fails at once ("Can't init WAL:
  WouldBlock"), raised here as VectorIndexError. The lock dies with the process. So one
  process owns the directory: the pool that serves vector reads and writes, with one
  process (a prefork pool with concurrency > 1 would fail to open it in all but one child).
- The GIL: every EdgeShard call holds it for its whole duration. Python threads do not
  query in parallel (a query parallelises inside, over ``max_search_threads``), and a long
  call stalls every other thread of the process, e.g. heartbeats: one ``optimize`` run
  took up to 11 s while loading 100,000 chunks (bench/search.py). Calls from several
  threads are safe; writes are also serialised by this adapter's lock.
- No background optimiser: segments get their HNSW graphs, and deleted points are
  vacuumed, only in ``EdgeShard.optimize()``. This adapter runs it after a write once
  `OPTIMIZE_EVERY` points changed since the last run; the owner may call `optimize` at a
  quiet moment instead. Until then searches scan the vector store's points through the
  payload index: fast for stores of thousands of chunks.
- Several vector stores in one search: each store's graph is searched and the union
  ranked by the dense vector again (there is no global graph to search them together).
- Durability: writes go to the WAL before `upsert` returns and are replayed on open, so
  they survive a killed process; `close` (or `flush`) persists segments. Open took
  0.1-0.5 s and close up to 2.5 s (it flushes) at 100,000 chunks: open once per process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as e

from shared.vectors import common
from shared.vectors.filters import And, Cond, Match, to_edge
from shared.vectors.plan import Ranking, Rrf, Sparse, Stage, search_plan
from shared.vectors.sparse import SparseVector
from shared.vectors.types import AttributeValue, Chunk, Hit, SearchMode, VectorIndexError

# Run the optimiser once this many points were written or deleted since the last run.
OPTIMIZE_EVERY = 20_000

# Payload indexes other than the tenant one build no HNSW links of their own: with
# payload_m > 0 Qdrant would otherwise build a subgraph per file id and attribute value,
# which made the optimiser 8x slower in bench/search.py.
_SCHEMA: dict[str, Callable[[], e.KeywordIndexParams | e.FloatIndexParams | e.IntegerIndexParams]]
_SCHEMA = {
    "keyword": lambda: e.KeywordIndexParams(enable_hnsw=False),
    "float": lambda: e.FloatIndexParams(enable_hnsw=False),
    "integer": lambda: e.IntegerIndexParams(lookup=True, range=False, enable_hnsw=False),
}


class EdgeIndex:
    def __init__(self, path: str | Path, dimensions: int, *, search_threads: int | None = None):
        self.path = Path(path)
        self.dimensions = int(dimensions)
        self._write_lock = threading.Lock()
        self._changed = 0
        self._shard: e.EdgeShard | None = None
        config_file = self.path / "edge_config.json"
        try:
            if config_file.exists():
                stored = _stored_dimensions(config_file)
                if stored != self.dimensions:
                    raise VectorIndexError(
                        f"the vector index at {self.path} holds {stored}-dimensional vectors,"
                        f" not {self.dimensions}"
                    )
                config = None
                if search_threads is not None:
                    config = _config(self.dimensions, search_threads)
                self._shard = e.EdgeShard.load(str(self.path), config)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._shard = e.EdgeShard.create(
                    str(self.path), _config(self.dimensions, search_threads)
                )
                self._shard.update(
                    e.UpdateOperation.create_field_index(
                        common.VECTOR_STORE_ID, e.KeywordIndexParams(is_tenant=True)
                    )
                )
                self._shard.update(
                    e.UpdateOperation.create_field_index(common.FILE_ID, _SCHEMA["keyword"]())
                )
            self._indexed = set(self._shard.info().payload_schema)
        except VectorIndexError:
            raise
        except Exception as exc:  # the binding raises plain Exception
            raise VectorIndexError(f"cannot open the vector index at {self.path}: {exc}") from exc

    @property
    def _live(self) -> e.EdgeShard:
        shard = self._shard
        if shard is None:
            raise VectorIndexError(f"the vector index at {self.path} is closed")
        return shard

    # --- writes ---------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            common.check_chunk(chunk, self.dimensions)
        self._index_attributes([chunk.attributes for chunk in chunks])
        for start in range(0, len(chunks), common.UPSERT_BATCH):
            batch = chunks[start : start + common.UPSERT_BATCH]
            points = [_point(chunk) for chunk in batch]
            with self._write_lock:
                self._live.update(e.UpdateOperation.upsert_points(points))
                self._changed += len(points)
        self._maybe_optimize()

    def _index_attributes(self, attribute_sets: Sequence[Mapping[str, AttributeValue]]) -> None:
        fields = common.new_index_fields(attribute_sets, self._indexed)
        if fields:
            with self._write_lock:
                for path, kind in fields.items():
                    self._live.update(e.UpdateOperation.create_field_index(path, _SCHEMA[kind]()))
                    self._indexed.add(path)

    def set_attributes(
        self, vector_store_id: str, file_id: str, attributes: Mapping[str, AttributeValue]
    ) -> None:
        fields = common.attributes_payload(attributes)  # raises ValueError on a bad value
        self._index_attributes([attributes])
        flt = to_edge(common.file_points(vector_store_id, file_id))
        with self._write_lock:
            changed = self._live.count(e.CountRequest(exact=True, filter=flt))
            if changed:
                # One operation: a search sees the file's chunks all before or all after.
                self._live.update(e.UpdateOperation.set_payload_by_filter(flt, fields))
                # A point of an optimised segment is copied on write, the original deleted.
                self._changed += changed
        self._maybe_optimize()

    def delete_file(self, vector_store_id: str, file_id: str) -> None:
        self._delete(common.file_points(vector_store_id, file_id))

    def delete_store(self, vector_store_id: str) -> None:
        self._delete(Match(common.VECTOR_STORE_ID, vector_store_id))

    def _delete(self, cond: Cond) -> None:
        flt = to_edge(cond)
        with self._write_lock:
            removed = self._live.count(e.CountRequest(exact=True, filter=flt))
            if removed:
                self._live.update(e.UpdateOperation.delete_points_by_filter(flt))
                self._changed += removed
        self._maybe_optimize()

    def optimize(self) -> bool:
        """Index and vacuum segments now (blocking); True if anything changed."""
        with self._write_lock:
            self._changed = 0
            return self._live.optimize()

    def _maybe_optimize(self) -> None:
        if self._changed >= OPTIMIZE_EVERY:
            self.optimize()

    def flush(self) -> None:
        with self._write_lock:
            self._live.flush()

    def close(self) -> None:
        with self._write_lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                shard.close()

    def __enter__(self) -> EdgeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ----------------------------------------------------------------------------

    def count(self, vector_store_id: str, file_id: str | None = None) -> int:
        cond: Cond = Match(common.VECTOR_STORE_ID, vector_store_id)
        if file_id is not None:
            cond = And((cond, Match(common.FILE_ID, file_id)))
        return self._live.count(e.CountRequest(exact=True, filter=to_edge(cond)))

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
        request = e.QueryRequest(
            limit=plan.root.limit,
            with_payload=e.PayloadSelector.Include(common.RETURNED_FIELDS),
            **_stage(plan.root),
        )
        points = self._live.query(request)
        return common.scored_hits(
            [(p.payload, p.score) for p in points], plan.mode, plan.score_threshold
        )


def _stage(stage: Stage) -> dict[str, Any]:
    """A plan stage as the arguments `QueryRequest` and `Prefetch` share."""
    return {
        "query": _ranking(stage.query),
        "prefetches": [e.Prefetch(limit=p.limit, **_stage(p)) for p in stage.prefetches] or None,
        "filter": to_edge(stage.filter) if stage.filter is not None else None,
        "score_threshold": stage.score_threshold,
    }


def _ranking(ranking: Ranking) -> Any:
    if isinstance(ranking, Rrf):
        return e.Fusion.Rrf(k=ranking.k)
    if isinstance(ranking, Sparse):
        vector = e.SparseVector(ranking.vector.indices, ranking.vector.values)
        return e.Query.Nearest(vector, using=common.SPARSE)
    return e.Query.Nearest(ranking.vector, using=common.DENSE)


def _config(dimensions: int, search_threads: int | None) -> e.EdgeConfig:
    return e.EdgeConfig(
        vectors={common.DENSE: e.EdgeVectorParams(size=dimensions, distance=e.Distance.Cosine)},
        sparse_vectors={common.SPARSE: e.EdgeSparseVectorParams(modifier=e.Modifier.Idf)},
        hnsw_config=e.HnswIndexConfig(
            m=common.HNSW_M,
            payload_m=common.HNSW_PAYLOAD_M,
            ef_construct=common.HNSW_EF_CONSTRUCT,
            full_scan_threshold=common.HNSW_FULL_SCAN_KB,
        ),
        max_search_threads=search_threads,
    )


def _stored_dimensions(config_file: Path) -> int | None:
    try:
        data = json.loads(config_file.read_text())
        return int(data["vectors"][common.DENSE]["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _point(chunk: Chunk) -> e.Point:
    vector: dict[str, Any] = {common.DENSE: common.dense_list(chunk.dense)}
    if chunk.sparse.indices:
        vector[common.SPARSE] = e.SparseVector(chunk.sparse.indices, chunk.sparse.values)
    return e.Point(
        id=common.point_id(chunk.vector_store_id, chunk.file_id, chunk.index),
        vector=vector,
        payload=common.payload(chunk),
    )
