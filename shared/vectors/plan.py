"""The query plan of a search, engine-neutral: which rankings, over which points, fused how.

`search_plan` validates a search and decides its shape once; each adapter only translates
the `Stage` tree to its engine's calls (qdrant-edge-py's `QueryRequest` / `Prefetch`,
qdrant-client's `query_points` / `Prefetch`: both are Qdrant's Query API). A stage ranks
the points its filter admits, or, when it has prefetches, the union of what they return.

- hybrid: reciprocal rank fusion (k = `common.RRF_K`) of a dense and a keyword ranking, each
  read `prefetch_limit(limit)` deep;
- dense: the dense ranking, the score threshold handed to the engine (a cosine is already
  the score reported);
- keyword: the keyword ranking.

There is one HNSW graph per vector store and none global, so a dense ranking over several
stores searches each store's graph (one prefetch each) and ranks the union by the dense
vector again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.vectors import common
from shared.vectors.filters import Cond, parse_filters, scope
from shared.vectors.sparse import SparseVector
from shared.vectors.types import SearchMode, VectorIndexError

# How deep each ranking is read before fusing: deeper lists let a chunk ranked well by one
# retriever and fairly by the other rise, at little cost.
PREFETCH_MIN = 50
PREFETCH_FACTOR = 4
PREFETCH_MAX = 200


@dataclass(frozen=True, slots=True)
class Dense:
    """Rank by cosine similarity to `vector` (the named vector `common.DENSE`)."""

    vector: list[float]


@dataclass(frozen=True, slots=True)
class Sparse:
    """Rank by the keyword vector's dot product (`common.SPARSE`, IDF applied by the engine)."""

    vector: SparseVector


@dataclass(frozen=True, slots=True)
class Rrf:
    """Fuse the prefetches' rankings by reciprocal rank fusion."""

    k: int


Ranking = Dense | Sparse | Rrf


@dataclass(frozen=True, slots=True)
class Stage:
    """At most `limit` points ranked by `query`: over `prefetches`' results when there are
    any, else over the points `filter` admits; none scoring under `score_threshold`."""

    query: Ranking
    limit: int
    filter: Cond | None = None
    prefetches: tuple[Stage, ...] = ()
    score_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated search: the engine runs `root`; `mode` and `score_threshold` map its
    ranked rows to hits (`common.scored_hits`)."""

    root: Stage
    mode: SearchMode
    score_threshold: float | None


def search_plan(
    vector_store_ids: Sequence[str],
    dense: Sequence[float] | None,
    sparse: SparseVector | None,
    limit: int,
    filters: Mapping[str, Any] | None,
    score_threshold: float | None,
    mode: SearchMode,
    file_ids: Sequence[str] | None,
    dimensions: int,
) -> Plan | None:
    """The plan of a search (arguments as `VectorIndex.search`); None when it cannot find
    anything. Raises ValueError (FilterError for filters) or VectorIndexError on bad input."""
    check_limit(limit)
    check_mode(mode)
    check_query(dense, dimensions)
    if isinstance(vector_store_ids, str) or isinstance(file_ids, str):
        raise TypeError("vector_store_ids and file_ids are sequences of ids, not one id")
    stores = list(dict.fromkeys(vector_store_ids))
    user = parse_filters(filters) if filters is not None else None
    use_dense = dense is not None and mode in ("hybrid", "dense")
    use_sparse = has_sparse(sparse) and mode in ("hybrid", "keyword")
    if not stores or (file_ids is not None and not file_ids):
        return None
    if not use_dense and not use_sparse:
        return None
    everywhere = scope(stores, user, file_ids)

    def dense_ranking(depth: int, threshold: float | None = None) -> Stage:
        assert dense is not None
        query = Dense(common.dense_list(dense))
        if len(stores) == 1:
            return Stage(query, depth, filter=everywhere, score_threshold=threshold)
        per_store = tuple(
            Stage(query, depth, filter=scope([store], user, file_ids)) for store in stores
        )
        return Stage(query, depth, prefetches=per_store, score_threshold=threshold)

    def keyword_ranking(depth: int) -> Stage:
        assert sparse is not None
        return Stage(Sparse(sparse), depth, filter=everywhere)

    if mode == "hybrid":
        depth = prefetch_limit(limit)
        rankings = []
        if use_dense:
            rankings.append(dense_ranking(depth))
        if use_sparse:
            rankings.append(keyword_ranking(depth))
        root = Stage(Rrf(common.RRF_K), limit, prefetches=tuple(rankings))
    elif mode == "dense":
        root = dense_ranking(limit, score_threshold)
    else:
        root = keyword_ranking(limit)
    return Plan(root, mode, score_threshold)


def prefetch_limit(limit: int) -> int:
    return max(PREFETCH_MIN, min(PREFETCH_MAX, limit * PREFETCH_FACTOR))


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be a positive integer")


def check_mode(mode: str) -> None:
    if mode not in ("hybrid", "dense", "keyword"):
        raise ValueError("mode must be hybrid, dense or keyword")


def check_query(dense: Sequence[float] | None, dimensions: int) -> None:
    if dense is not None and len(dense) != dimensions:
        raise VectorIndexError(
            f"query vector has {len(dense)} dimensions; this index takes {dimensions}"
        )


def has_sparse(sparse: SparseVector | None) -> bool:
    return sparse is not None and len(sparse.indices) > 0
