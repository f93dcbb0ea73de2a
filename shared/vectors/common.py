"""What both adapters share: point ids, the payload, validation, and score mapping (the
query itself is planned in `shared.vectors.plan`)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.vectors.filters import ATTR_INDEX, And, Cond, Match, index_fields, typed_attributes
from shared.vectors.types import AttributeValue, Chunk, Hit, SearchMode, VectorIndexError

DENSE = "dense"
SPARSE = "sparse"
# Reciprocal rank fusion: a hit at 0-based rank r of one ranking earns 1 / (RRF_K + r), the
# formula both engines use. The original paper's 60 (Cormack et al. 2009) rewards chunks
# both retrievers rank fairly over the first of either: on tests/quality's corpus, where
# every chunk shares common words with every question, it put a rare identifier's only match
# outside the top 5 for a quarter of the keyword questions (hybrid recall@5 0.72). A small k
# lets each retriever's first hits through (k = 1 to 5: recall@5 0.95, above dense and
# keyword alone). 3 rather than Qdrant's default 2: a chunk first in one ranking ties
# exactly with one at rank k in both (1/k = 2/(2k)), which the two engines order
# differently; a larger k puts that tie deeper (tests/integration met it at k = 2).
RRF_K = 3
UPSERT_BATCH = 256
# Attribute keys get a payload index each (filters on unindexed payload read and parse
# every candidate's whole payload: 10x slower), up to this many keys per collection.
MAX_ATTRIBUTE_INDEXES = 256
# Per-vector-store HNSW graphs and no global graph (Qdrant's multitenancy setup): every
# search is scoped to one or two vector stores, and building one graph over every store
# cost 30x more optimiser time in bench/search.py.
HNSW_M = 0
HNSW_PAYLOAD_M = 16
HNSW_EF_CONSTRUCT = 100
HNSW_FULL_SCAN_KB = 10_000

_NAMESPACE = uuid.UUID("5f0b6d2e-2c9a-4f55-9a55-7472656164c5")

# Payload fields.
VECTOR_STORE_ID = "vector_store_id"
FILE_ID = "file_id"


def point_id(vector_store_id: str, file_id: str, index: int) -> str:
    """The point id of a chunk: uuid5 of (vector_store_id, file_id, index)."""
    return str(uuid.uuid5(_NAMESPACE, f"{vector_store_id}\x1f{file_id}\x1f{int(index)}"))


def check_chunk(chunk: Chunk, dimensions: int) -> None:
    if len(chunk.dense) != dimensions:
        raise VectorIndexError(
            f"chunk {chunk.file_id}#{chunk.index} has a dense vector of {len(chunk.dense)}"
            f" dimensions; this index takes {dimensions}"
        )
    if not math.isfinite(sum(chunk.dense)):  # NaN or infinity anywhere (or absurd values)
        raise VectorIndexError(f"chunk {chunk.file_id}#{chunk.index}: non-finite dense value")
    typed_attributes(chunk.attributes)  # raises ValueError on a value of another type


def dense_list(dense: Sequence[float]) -> list[float]:
    """The vector as a list of Python floats (numpy arrays included)."""
    tolist = getattr(dense, "tolist", None)
    return tolist() if tolist is not None else [float(x) for x in dense]


def payload(chunk: Chunk) -> dict[str, Any]:
    return {
        VECTOR_STORE_ID: chunk.vector_store_id,
        FILE_ID: chunk.file_id,
        "filename": chunk.filename,
        "index": int(chunk.index),
        "text": chunk.text,
        **attributes_payload(chunk.attributes),
    }


def attributes_payload(attributes: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """The payload fields holding a chunk's attributes: verbatim, and the typed copy filters
    read. Both are top-level fields, so setting them on a point (`set_attributes`) replaces
    each whole, leaving no key of the old attributes behind."""
    verbatim = dict(attributes)
    return {"attributes": verbatim, ATTR_INDEX: typed_attributes(verbatim)}


def file_points(vector_store_id: str, file_id: str) -> Cond:
    """The condition selecting every chunk of one file of one store."""
    return And((Match(VECTOR_STORE_ID, vector_store_id), Match(FILE_ID, file_id)))


# Fields a search returns (the typed attribute copy stays behind).
RETURNED_FIELDS = [VECTOR_STORE_ID, FILE_ID, "filename", "index", "text", "attributes"]


def new_index_fields(
    attribute_sets: Iterable[Mapping[str, AttributeValue]], indexed: set[str]
) -> dict[str, str]:
    """Attribute paths of ``attribute_sets`` (each chunk's attributes) still without a
    payload index, within the cap."""
    wanted: dict[str, str] = {}
    have = sum(1 for path in indexed if path.startswith(ATTR_INDEX + "."))
    for attributes in attribute_sets:
        for path, kind in index_fields(attributes).items():
            if (
                path not in indexed
                and path not in wanted
                and have + len(wanted) < MAX_ATTRIBUTE_INDEXES
            ):
                wanted[path] = kind
    return wanted


def to_hit(data: Mapping[str, Any] | None, score: float) -> Hit:
    data = data or {}
    return Hit(
        file_id=data.get(FILE_ID, ""),
        filename=data.get("filename", ""),
        score=min(1.0, max(0.0, float(score))),
        text=data.get("text", ""),
        attributes=dict(data.get("attributes") or {}),
        vector_store_id=data.get(VECTOR_STORE_ID, ""),
        index=int(data.get("index", 0)),
    )


def scored_hits(
    rows: Sequence[tuple[Mapping[str, Any] | None, float]],
    mode: SearchMode,
    score_threshold: float | None,
) -> list[Hit]:
    """Hits from an engine's ranked (payload, raw score) rows, with scores in 0..1.

    hybrid:  RRF score divided by its maximum, 2 / RRF_K (first in both rankings): 1.0 for
             a chunk both retrievers rank first, 0.5 for one only one ranks first.
    dense:   cosine similarity, negatives clamped to 0.
    keyword: the RRF share of a single ranking, RRF_K / (RRF_K + rank): 1.0 for the first.
    """
    hits: list[Hit] = []
    for rank, (data, raw) in enumerate(rows):
        if mode == "hybrid":
            score = raw * RRF_K / 2.0
        elif mode == "keyword":
            score = RRF_K / (RRF_K + rank)
        else:
            score = raw
        hit = to_hit(data, score)
        if score_threshold is not None and hit.score < score_threshold:
            break  # rows are ranked, and every mapping keeps the order
        hits.append(hit)
    return hits
