"""Recall@5 of file_search retrieval over the generated corpus (`tests.quality.corpus`).

The real pieces: the ingest chunker (auto: 800 tokens, 400 overlap), the local embedding
model (all-MiniLM-L6-v2, `workers.ingest.embeddings.LocalEmbedder`), the keyword vectors, and the
embedded engine (qdrant-edge). Each document is indexed twice, in two vector stores: once
with the embedder's pooled sub-window vectors (what ingest stores) and once with the model's
plain truncated encoding, so the two can be compared on facts placed late in a chunk.

`python -m tests.quality.retrieval` prints the table.
"""
from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from shared.vectors import Chunk, SearchMode, document_vector, query_vector
from shared.vectors.edge_index import EdgeIndex
from tests.quality.corpus import Corpus, Question, build
from workers.ingest.chunking import chunk
from workers.ingest.embeddings import LocalEmbedder

K = 5
POOLED = "vs_pooled"
TRUNCATED = "vs_truncated"
MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")


@dataclass(frozen=True)
class Report:
    # recall[(store, mode, kind)]: kind is "paraphrase", "keyword", "all" or "late"
    # (paraphrase questions whose fact lies past the model's first 256 word pieces).
    recall: dict[tuple[str, str, str], float]
    documents: int
    chunks: int
    questions: int
    seconds: float

    def table(self) -> str:
        kinds = ("paraphrase", "keyword", "all", "late")
        lines = [f"recall@{K} over {self.documents} documents ({self.chunks} chunks), "
                 f"{self.questions} questions, {self.seconds:.0f} s",
                 f"{'store / mode':<22}" + "".join(f"{kind:>12}" for kind in kinds)]
        for store in (POOLED, TRUNCATED):
            for mode in MODES:
                row = "".join(f"{self.recall[(store, mode, kind)]:>12.3f}" for kind in kinds)
                lines.append(f"{store[3:] + ' / ' + mode:<22}{row}")
        return "\n".join(lines)


def _groups(question: Question) -> list[str]:
    groups = [question.kind, "all"]
    if question.kind == "paraphrase" and question.late:
        groups.append("late")
    return groups


def measure(corpus: Corpus | None = None, data_dir: Path | None = None) -> Report:
    corpus = corpus or build()
    started = time.monotonic()
    embedder = LocalEmbedder()
    pieces = [(doc.name, i, text) for doc in corpus.documents
              for i, text in enumerate(chunk(doc.text))]
    texts = [text for _, _, text in pieces]
    vectors = {POOLED: embedder.embed_documents(texts),
               TRUNCATED: embedder.embed_truncated(texts)}
    with tempfile.TemporaryDirectory() as scratch:
        index = EdgeIndex(Path(data_dir or scratch) / "quality", embedder.dimensions)
        try:
            for store, dense in vectors.items():
                index.upsert([Chunk(store, name, name, i, text, {}, vector,
                                    document_vector(text))
                              for (name, i, text), vector in zip(pieces, dense, strict=True)])
            hits: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
            for question in corpus.questions:
                dense_query = embedder.embed_query(question.text)
                sparse_query = query_vector(question.text)
                for store in vectors:
                    for mode in MODES:
                        found = index.search([store], dense_query, sparse_query, K, mode=mode)
                        hit = any(h.file_id == question.answer for h in found)
                        for group in _groups(question):
                            hits[(store, mode, group)].append(hit)
        finally:
            index.close()
    recall = {key: sum(found) / len(found) for key, found in hits.items()}
    return Report(recall, len(corpus.documents), len(pieces), len(corpus.questions),
                  time.monotonic() - started)


if __name__ == "__main__":
    print(measure().table())
