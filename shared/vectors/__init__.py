"""The vector engine behind file_search: one interface, two adapters.

``open_index(settings, dimensions=N)`` chooses:

- ``settings.qdrant_url`` set (``TREADLE_QDRANT_URL``): a Qdrant server through
  qdrant-client (`QdrantClientIndex`, collection ``treadle_<name>``). ``":memory:"`` gives
  qdrant-client's in-memory local mode, for tests.
- otherwise: Qdrant's in-process engine qdrant-edge-py (`EdgeIndex`) in
  ``<settings.data_dir>/vectors/<name>``. Only one process may open that directory (see
  edge_index.py): open it in the pool that owns vector data and nowhere else.

Every vector store shares one collection; each chunk is a point with a dense vector
(cosine; its dimension fixed when the collection is created) and a sparse keyword vector
(`shared.vectors.sparse`, IDF applied by the engine). Its id is uuid5 of (vector_store_id,
file_id, index), so upserting a chunk again replaces it. Re-ingesting a file that now has
fewer chunks leaves the old tail behind: call ``delete_file`` first. ``set_attributes``
changes a file's attributes on its chunks in place (the payload only), never re-writing them.

Search modes (planned once, engine-neutral, in `shared.vectors.plan`; each adapter
translates the plan to its engine's calls) and what ``Hit.score`` (always 0..1, ranked best
first) means:

- ``hybrid`` (default): the dense and the keyword rankings (each read ``4 * limit`` deep,
  50 to 200; the dense one over several vector stores is each store's ranking merged by
  cosine) fused by reciprocal rank fusion inside the engine, k = 3 (see
  `common.RRF_K`); the score is the RRF sum divided by its maximum (2 / k). 1.0: both
  retrievers rank the chunk first; 0.5: one ranks it first and the other not at all; the
  first few hits of each retriever rank above chunks both find only deeper down. It
  measures agreement of the rankings, not absolute relevance: a ``score_threshold`` above
  0.5 keeps only chunks both retrievers found.
- ``dense``: cosine similarity (negatives reported as 0), so a threshold is a similarity.
- ``keyword``: the single-ranking RRF share k / (k + rank): 1.0 for the best BM25 match.

``score_threshold`` drops hits scoring below it; ``limit`` caps the hits (max_num_results);
``filters`` is OpenAI's ComparisonFilter / CompoundFilter over file attributes
(`shared.vectors.filters`; invalid ones raise `FilterError`, a ValueError, with ``param``);
``file_ids`` optionally restricts to some files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.vectors.filters import FilterError
from shared.vectors.sparse import SparseVector, document_vector, query_vector, tokenize
from shared.vectors.types import (
    AttributeValue,
    Chunk,
    Hit,
    SearchMode,
    VectorIndex,
    VectorIndexError,
)

__all__ = [
    "AttributeValue",
    "Chunk",
    "FilterError",
    "Hit",
    "SearchMode",
    "SparseVector",
    "VectorIndex",
    "VectorIndexError",
    "document_vector",
    "open_index",
    "query_vector",
    "tokenize",
]


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    if isinstance(settings, Mapping):
        return settings.get(name, default)
    return getattr(settings, name, default)


def open_index(settings: Any, *, dimensions: int, name: str = "chunks") -> VectorIndex:
    """The vector index the settings point at (attributes or keys ``qdrant_url``,
    ``qdrant_api_key``, ``data_dir``); engines are imported only here."""
    if dimensions < 1:
        raise ValueError("dimensions must be positive")
    url = _setting(settings, "qdrant_url")
    if url:
        from shared.vectors.qdrant_client_index import QdrantClientIndex

        return QdrantClientIndex.connect(
            str(url),
            dimensions,
            collection=f"treadle_{name}",
            api_key=_setting(settings, "qdrant_api_key"),
        )
    from shared.vectors.edge_index import EdgeIndex

    data_dir = Path(_setting(settings, "data_dir", ".treadle"))
    return EdgeIndex(data_dir / "vectors" / name, dimensions)
