"""The engine-neutral records and the interface both adapters implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from shared.vectors.sparse import SparseVector

AttributeValue = str | int | float | bool
SearchMode = Literal["hybrid", "dense", "keyword"]


class VectorIndexError(Exception):
    """The engine refused or cannot serve the request (wrong dimensions, engine busy...)."""


@dataclass(slots=True)
class Chunk:
    vector_store_id: str
    file_id: str
    filename: str
    index: int
    text: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    dense: Sequence[float] = field(default_factory=list)
    sparse: SparseVector = field(default_factory=SparseVector)


@dataclass(slots=True)
class Hit:
    file_id: str
    filename: str
    score: float  # 0..1, see shared/vectors/__init__.py for its meaning per mode
    text: str
    attributes: dict[str, AttributeValue]
    vector_store_id: str
    index: int


@runtime_checkable
class VectorIndex(Protocol):
    """One collection of chunks of every vector store, dense dimension fixed at creation."""

    dimensions: int

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Write chunks; a chunk's point id is derived from (vector_store_id, file_id, index)
        so writing the same chunk again replaces it."""

    def set_attributes(
        self, vector_store_id: str, file_id: str, attributes: Mapping[str, AttributeValue]
    ) -> None:
        """Give every chunk of the file these attributes (replacing the ones it had), in
        place: no chunk is written again, and searches find the file throughout."""

    def delete_file(self, vector_store_id: str, file_id: str) -> None: ...

    def delete_store(self, vector_store_id: str) -> None: ...

    def count(self, vector_store_id: str, file_id: str | None = None) -> int: ...

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
    ) -> list[Hit]: ...

    def close(self) -> None: ...
