"""The vector engine layer (shared/vectors), one suite run against both adapters:
qdrant-edge-py under tmp_path, and qdrant-client in its local (in-memory) mode."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from shared.vectors import (
    AttributeValue,
    Chunk,
    FilterError,
    Hit,
    SparseVector,
    VectorIndex,
    VectorIndexError,
    document_vector,
    open_index,
    query_vector,
    tokenize,
)
from shared.vectors.edge_index import EdgeIndex
from shared.vectors.filters import parse_filters
from shared.vectors.qdrant_client_index import QdrantClientIndex

DIM = 4


def unit(*xs: float) -> list[float]:
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


FILES: dict[str, tuple[str, str, dict[str, AttributeValue], list[tuple[str, list[float]]]]] = {
    # file_id: (vector store, filename, attributes, [(text, dense)])
    "file-alpha": (
        "vs_a",
        "alpha.txt",
        {"category": "fruit", "year": 2023, "public": True, "rating": 4.5},
        [
            ("Apples are crisp fruit that grow on trees.", unit(1, 0.02, 0, 0)),
            ("An apple orchard harvest happens in autumn.", unit(1, 0.1, 0, 0)),
            ("Apple varieties include Gala and Fuji.", unit(1, 0.2, 0.05, 0)),
        ],
    ),
    "file-beta": (
        "vs_a",
        "beta.txt",
        {"category": "tools", "year": 2024, "public": False, "rating": 3},
        [
            ("A hammer drives nails into wood.", unit(0.1, 1, 0, 0)),
            ("Screwdrivers come in flat and cross heads.", unit(0.15, 1, 0.1, 0)),
            ("Keep your tools dry to avoid rust.", unit(0.2, 1, 0.2, 0)),
        ],
    ),
    "file-gamma": (
        "vs_a",
        "gamma.md",
        {"category": "parts", "year": 2025, "weird.key name": "x y", "rating": 5},
        [
            ("The catalogue lists spare parts by supplier.", unit(0, 0.1, 0.1, 1)),
            ("Replacement gasket ZX-4471 fits the older pump.", unit(0, 0, 0.2, 1)),
        ],
    ),
    "file-delta": (
        "vs_b",
        "delta.txt",
        {"category": "fruit", "year": 2023},
        [("Pears and apples share an orchard.", unit(1, 0.05, 0, 0))],
    ),
}


def corpus() -> list[Chunk]:
    chunks = []
    for file_id, (store, filename, attributes, parts) in FILES.items():
        for index, (text, dense) in enumerate(parts):
            chunks.append(
                Chunk(
                    vector_store_id=store,
                    file_id=file_id,
                    filename=filename,
                    index=index,
                    text=text,
                    attributes=attributes,
                    dense=dense,
                    sparse=document_vector(text),
                )
            )
    return chunks


def make(kind: str, tmp_path) -> VectorIndex:
    if kind == "edge":
        return EdgeIndex(tmp_path / "vectors", DIM)
    return QdrantClientIndex.local(DIM)


@pytest.fixture(params=["edge", "qdrant_client"])
def index(request, tmp_path) -> Iterator[VectorIndex]:
    """A fresh index holding the corpus, for tests that write."""
    idx = make(request.param, tmp_path)
    idx.upsert(corpus())
    yield idx
    idx.close()


@pytest.fixture(scope="module", params=["edge", "qdrant_client"])
def ro_index(request, tmp_path_factory) -> Iterator[VectorIndex]:
    """One index holding the corpus per adapter, for tests that only read."""
    idx = make(request.param, tmp_path_factory.mktemp(request.param))
    idx.upsert(corpus())
    yield idx
    idx.close()


def ids(hits: list[Hit]) -> list[tuple[str, int]]:
    return [(h.file_id, h.index) for h in hits]


def files(index: VectorIndex, filters, stores=("vs_a",)) -> set[str]:
    hits = index.search(list(stores), unit(1, 1, 1, 1), None, 50, filters=filters, mode="dense")
    return {h.file_id for h in hits}


# --- writes ---------------------------------------------------------------------------------


def test_counts(ro_index):
    assert ro_index.count("vs_a") == 8
    assert ro_index.count("vs_b") == 1
    assert ro_index.count("vs_a", "file-gamma") == 2
    assert ro_index.count("vs_a", "file-delta") == 0
    assert ro_index.count("vs_missing") == 0


def test_upsert_is_idempotent(index):
    index.upsert(corpus())
    index.upsert(corpus()[:3])
    assert index.count("vs_a") == 8
    assert index.count("vs_a", "file-alpha") == 3


def test_upsert_replaces_a_chunk(index):
    chunk = corpus()[0]
    chunk.text = "Apples, rewritten."
    chunk.sparse = document_vector(chunk.text)
    index.upsert([chunk])
    assert index.count("vs_a", "file-alpha") == 3
    hits = index.search(["vs_a"], chunk.dense, None, 1, mode="dense")
    assert hits[0].text == "Apples, rewritten."


def test_same_file_in_two_stores_is_two_chunks(index):
    chunk = corpus()[0]
    chunk.vector_store_id = "vs_b"
    index.upsert([chunk])
    assert index.count("vs_a", "file-alpha") == 3
    assert index.count("vs_b", "file-alpha") == 1


def test_wrong_dimension_is_refused(ro_index):
    chunk = corpus()[0]
    chunk.dense = [1.0, 0.0, 0.0]
    with pytest.raises(VectorIndexError):
        ro_index.upsert([chunk])
    with pytest.raises(VectorIndexError):
        ro_index.search(["vs_a"], [1.0, 0.0], None, 3)


def test_delete_file(index):
    index.delete_file("vs_a", "file-gamma")
    assert index.count("vs_a", "file-gamma") == 0
    assert index.count("vs_a") == 6
    hits = index.search(["vs_a"], unit(0, 0, 0.2, 1), query_vector("ZX-4471"), 10)
    assert "file-gamma" not in {h.file_id for h in hits}
    index.delete_file("vs_a", "file-gamma")  # deleting again is fine
    index.delete_file("vs_b", "file-alpha")  # another store's file: nothing happens
    assert index.count("vs_a", "file-alpha") == 3


def test_delete_store(index):
    index.delete_store("vs_a")
    assert index.count("vs_a") == 0
    assert index.count("vs_b") == 1
    assert index.search(["vs_a"], unit(1, 0, 0, 0), query_vector("apple"), 10) == []


# --- attributes set in place ----------------------------------------------------------------


def beta_chunks(index: VectorIndex) -> list[Hit]:
    hits = index.search(["vs_a"], unit(0.1, 1, 0, 0), None, 50, mode="dense")
    return sorted((h for h in hits if h.file_id == "file-beta"), key=lambda h: h.index)


def test_set_attributes_replaces_them_in_place(index):
    before = beta_chunks(index)
    index.set_attributes("vs_a", "file-beta", {"category": "hardware", "year": 2026})
    assert index.count("vs_a", "file-beta") == 3
    after = beta_chunks(index)
    assert [(h.index, h.text) for h in after] == [(h.index, h.text) for h in before]
    assert [h.score for h in after] == pytest.approx([h.score for h in before])
    assert all(h.attributes == {"category": "hardware", "year": 2026} for h in after)
    # Filters read the new attributes; none of the old ones is left (public, rating).
    assert files(index, eq("category", "hardware")) == {"file-beta"}
    assert files(index, eq("year", 2026)) == {"file-beta"}
    assert files(index, eq("category", "tools")) == set()
    assert files(index, eq("year", 2024)) == set()
    assert files(index, eq("public", False)) == set()
    assert files(index, {"type": "lt", "key": "rating", "value": 4.5}) == set()
    # Keyword and hybrid search still find its chunks, filtered on the new attributes.
    for mode in ("keyword", "hybrid"):
        hits = index.search(["vs_a"], unit(0.1, 1, 0, 0), query_vector("hammer nails"), 3,
                            filters=eq("category", "hardware"), mode=mode)
        assert ids(hits)[0] == ("file-beta", 0), mode
    # Empty attributes: the file matches no attribute filter, and ne matches it.
    index.set_attributes("vs_a", "file-beta", {})
    assert all(h.attributes == {} for h in beta_chunks(index))
    assert files(index, eq("category", "hardware")) == set()
    assert "file-beta" in files(index, {"type": "ne", "key": "category", "value": "hardware"})


def test_set_attributes_touches_only_that_file_of_that_store(index):
    chunk = corpus()[0]
    chunk.vector_store_id = "vs_b"  # file-alpha in a second store
    index.upsert([chunk])
    index.set_attributes("vs_a", "file-alpha", {"category": "pome", "weird.key name": "z"})
    assert files(index, eq("category", "pome")) == {"file-alpha"}
    assert files(index, eq("weird.key name", "z")) == {"file-alpha"}
    assert files(index, eq("category", "fruit"), stores=["vs_b"]) == {"file-alpha", "file-delta"}
    assert files(index, eq("category", "fruit")) == set()
    assert files(index, eq("category", "tools")) == {"file-beta"}
    assert files(index, eq("weird.key name", "x y")) == {"file-gamma"}
    # A file the store does not hold: nothing to change, no error.
    index.set_attributes("vs_a", "file-missing", {"category": "pome"})
    index.set_attributes("vs_missing", "file-alpha", {"category": "pome"})
    assert index.count("vs_a") == 8 and index.count("vs_b") == 2


def test_set_attributes_refuses_a_bad_value(index):
    with pytest.raises(ValueError):
        index.set_attributes("vs_a", "file-beta", {"category": "x", "tags": ["a", "b"]})
    with pytest.raises(ValueError):
        index.set_attributes("vs_a", "file-beta", {"ratio": float("inf")})
    assert all(h.attributes == FILES["file-beta"][2] for h in beta_chunks(index))


def test_chunks_written_after_set_attributes_keep_theirs(index):
    """Attributes are per chunk: the file's chunks upserted later carry what they are given
    (the ingest pool sets the file's attributes again once its chunks are all written)."""
    index.set_attributes("vs_a", "file-beta", {"category": "hardware"})
    late = [c for c in corpus() if c.file_id == "file-beta"][2]
    index.upsert([late])
    assert {h.index: h.attributes["category"] for h in beta_chunks(index)} == {
        0: "hardware", 1: "hardware", 2: "tools"}
    index.set_attributes("vs_a", "file-beta", {"category": "hardware"})
    assert files(index, eq("category", "tools")) == set()


# --- ranking --------------------------------------------------------------------------------


def test_dense_ranks_the_nearest_first(ro_index):
    hits = ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 3, mode="dense")
    assert ids(hits) == [("file-alpha", 0), ("file-alpha", 1), ("file-alpha", 2)]
    assert hits[0].score == pytest.approx(0.9998, abs=1e-3)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hit_carries_the_chunk(ro_index):
    (hit,) = ro_index.search(["vs_a"], unit(0, 0, 0.2, 1), None, 1, mode="dense")
    assert hit.file_id == "file-gamma"
    assert hit.filename == "gamma.md"
    assert hit.vector_store_id == "vs_a"
    assert hit.index == 1
    assert hit.text == "Replacement gasket ZX-4471 fits the older pump."
    assert hit.attributes == FILES["file-gamma"][2]
    alpha = ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 1, mode="dense")[0]
    assert alpha.attributes["public"] is True
    assert alpha.attributes["rating"] == 4.5


def test_keyword_finds_a_rare_identifier_that_dense_misses(ro_index):
    dense_query = unit(1, 0.1, 0, 0)  # "about apples": nowhere near the gasket chunk
    dense_hits = ro_index.search(["vs_a"], dense_query, None, 3, mode="dense")
    assert ("file-gamma", 1) not in ids(dense_hits)
    for text in ("ZX-4471", "zx4471", "what fits zx 4471?"):
        keyword_hits = ro_index.search(["vs_a"], dense_query, query_vector(text), 3, mode="keyword")
        assert ids(keyword_hits)[0] == ("file-gamma", 1), text
        assert keyword_hits[0].score == pytest.approx(1.0)


def test_keyword_without_any_match_finds_nothing(ro_index):
    assert ro_index.search(["vs_a"], None, query_vector("zeppelin"), 5, mode="keyword") == []
    assert ro_index.search(["vs_a"], None, query_vector("!!!"), 5, mode="keyword") == []


def test_hybrid_fuses_both_rankings(ro_index):
    dense_query = unit(1, 0.1, 0, 0)
    hits = ro_index.search(["vs_a"], dense_query, query_vector("ZX-4471 apples"), 4)
    got = ids(hits)
    # Found by both retrievers: the apples chunk (first by dense, matches "apples").
    assert got[0] == ("file-alpha", 0)
    # The identifier chunk: first by keyword, last by dense, still in the top 4.
    assert ("file-gamma", 1) in got
    assert ("file-alpha", 1) in got
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 < h.score <= 1.0 for h in hits)


def test_hybrid_score_is_one_when_both_rank_a_chunk_first(ro_index):
    hits = ro_index.search(["vs_a"], unit(0, 0, 0.2, 1), query_vector("gasket ZX-4471"), 3)
    assert ids(hits)[0] == ("file-gamma", 1)
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_hybrid_with_only_a_dense_query_caps_scores_at_half(ro_index):
    hits = ro_index.search(["vs_a"], unit(1, 0, 0, 0), SparseVector(), 3)
    assert ids(hits)[0] == ("file-alpha", 0)
    assert hits[0].score == pytest.approx(0.5, abs=1e-4)


def test_score_threshold(ro_index):
    dense = ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 10, score_threshold=0.9, mode="dense")
    assert {h.file_id for h in dense} == {"file-alpha"}
    assert all(h.score >= 0.9 for h in dense)
    hybrid = ro_index.search(
        ["vs_a"], unit(1, 0.1, 0, 0), query_vector("ZX-4471 apples"), 10, score_threshold=0.51
    )
    # The store is smaller than the dense ranking's depth, so every chunk is in it: the
    # chunks matching a keyword are found by both retrievers and score above 0.5; those
    # found by dense alone score at most 0.5.
    assert sorted(ids(hybrid)) == [("file-alpha", 0), ("file-gamma", 1)]
    assert all(h.score >= 0.51 for h in hybrid)
    assert ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 10, score_threshold=1.01) == []


def test_limit(ro_index):
    assert len(ro_index.search(["vs_a"], unit(1, 1, 1, 1), query_vector("the"), 2)) == 2
    assert len(ro_index.search(["vs_a"], unit(1, 1, 1, 1), None, 5, mode="dense")) == 5
    assert len(ro_index.search(["vs_a"], unit(1, 1, 1, 1), None, 50, mode="dense")) == 8
    with pytest.raises(ValueError):
        ro_index.search(["vs_a"], unit(1, 1, 1, 1), None, 0)


def test_vector_store_restriction(ro_index):
    query = unit(1, 0, 0, 0)
    assert {h.vector_store_id for h in ro_index.search(["vs_b"], query, None, 10)} == {"vs_b"}
    both = ro_index.search(["vs_a", "vs_b"], query, None, 10, mode="dense")
    assert {h.file_id for h in both} >= {"file-alpha", "file-delta"}
    assert ro_index.search([], query, query_vector("apples"), 10) == []
    assert ro_index.search(["vs_missing"], query, query_vector("apples"), 10) == []


def test_file_restriction(ro_index):
    hits = ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 10, file_ids=["file-beta"])
    assert {h.file_id for h in hits} == {"file-beta"}
    assert ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 10, file_ids=[]) == []


# --- filters --------------------------------------------------------------------------------


def eq(key, value):
    return {"type": "eq", "key": key, "value": value}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (eq("category", "fruit"), {"file-alpha"}),
        (eq("year", 2024), {"file-beta"}),
        (eq("year", 2024.0), {"file-beta"}),
        (eq("rating", 4.5), {"file-alpha"}),
        (eq("public", True), {"file-alpha"}),
        (eq("public", False), {"file-beta"}),
        (eq("year", "2024"), set()),  # typed: a string never equals a number
        (eq("public", 1), set()),  # nor a number a boolean
        (eq("weird.key name", "x y"), {"file-gamma"}),
        ({"type": "ne", "key": "category", "value": "fruit"}, {"file-beta", "file-gamma"}),
        # ne matches chunks lacking the attribute too
        ({"type": "ne", "key": "public", "value": True}, {"file-beta", "file-gamma"}),
        ({"type": "gt", "key": "year", "value": 2024}, {"file-gamma"}),
        ({"type": "gte", "key": "year", "value": 2024}, {"file-beta", "file-gamma"}),
        ({"type": "lt", "key": "rating", "value": 4.5}, {"file-beta"}),
        ({"type": "lte", "key": "rating", "value": 4.5}, {"file-alpha", "file-beta"}),
        ({"type": "gt", "key": "missing", "value": 0}, set()),
        (
            {"type": "in", "key": "category", "value": ["tools", "parts"]},
            {"file-beta", "file-gamma"},
        ),
        ({"type": "in", "key": "year", "value": [2023, 2025]}, {"file-alpha", "file-gamma"}),
        ({"type": "nin", "key": "category", "value": ["tools", "parts"]}, {"file-alpha"}),
        (
            {"type": "and", "filters": [eq("category", "tools"), eq("year", 2024)]},
            {"file-beta"},
        ),
        (
            {"type": "and", "filters": [eq("category", "tools"), eq("year", 2023)]},
            set(),
        ),
        (
            {"type": "or", "filters": [eq("category", "tools"), eq("year", 2023)]},
            {"file-alpha", "file-beta"},
        ),
        (
            {
                "type": "or",
                "filters": [
                    {
                        "type": "and",
                        "filters": [
                            {"type": "gte", "key": "rating", "value": 4},
                            {"type": "ne", "key": "category", "value": "parts"},
                        ],
                    },
                    {
                        "type": "and",
                        "filters": [
                            eq("category", "tools"),
                            {"type": "or", "filters": [eq("public", True), eq("year", 2024)]},
                        ],
                    },
                ],
            },
            {"file-alpha", "file-beta"},
        ),
    ],
)
def test_filters(ro_index, filters, expected):
    assert files(ro_index, filters) == expected


def test_filters_never_leave_the_vector_stores(ro_index):
    assert files(ro_index, eq("category", "fruit"), stores=["vs_a"]) == {"file-alpha"}
    assert files(ro_index, eq("category", "fruit"), stores=["vs_b"]) == {"file-delta"}
    assert files(ro_index, eq("category", "fruit"), stores=["vs_a", "vs_b"]) == {
        "file-alpha",
        "file-delta",
    }


def test_filters_apply_to_hybrid_and_keyword(ro_index):
    flt = eq("category", "tools")
    for mode in ("hybrid", "keyword"):
        hits = ro_index.search(
            ["vs_a"],
            unit(1, 0, 0, 0),
            query_vector("apples ZX-4471 the"),
            10,
            filters=flt,
            mode=mode,
        )
        assert {h.file_id for h in hits} <= {"file-beta"}, mode


@pytest.mark.parametrize(
    ("filters", "param"),
    [
        ({"type": "gt", "key": "year", "value": "2024"}, "filters.value"),
        ({"type": "gt", "key": "year", "value": True}, "filters.value"),
        ({"type": "eq", "key": "year", "value": None}, "filters.value"),
        ({"type": "eq", "key": "year"}, "filters.value"),
        ({"type": "eq", "key": "", "value": 1}, "filters.key"),
        ({"type": "in", "key": "year", "value": []}, "filters.value"),
        ({"type": "in", "key": "year", "value": 3}, "filters.value"),
        ({"type": "like", "key": "year", "value": 3}, "filters.type"),
        ({"type": "and", "filters": []}, "filters.filters"),
        ({"type": "or", "filters": [{"type": "eq", "key": "a"}]}, "filters.filters[0].value"),
        ("category = fruit", "filters"),
    ],
)
def test_invalid_filters_are_refused(filters, param):
    with pytest.raises(FilterError) as info:
        parse_filters(filters)
    assert info.value.param == param
    assert isinstance(info.value, ValueError)


def test_invalid_filters_are_refused_by_search(ro_index):
    with pytest.raises(FilterError):
        ro_index.search(["vs_a"], unit(1, 0, 0, 0), None, 3, filters={"type": "gt", "key": "y"})


# --- both adapters agree ----------------------------------------------------------------------


def test_adapters_agree(tmp_path):
    edge, client = make("edge", tmp_path), make("qdrant_client", tmp_path)
    try:
        for idx in (edge, client):
            idx.upsert(corpus())
        queries = [
            (unit(1, 0.1, 0, 0), query_vector("ZX-4471 apples")),
            (unit(0.3, 1, 0.2, 0.1), query_vector("tools rust hammer")),
            (unit(0.1, 0.2, 1, 0.05), query_vector("orchard")),  # no cosine ties
        ]
        for dense, sparse in queries:
            for mode in ("hybrid", "dense", "keyword"):
                a = edge.search(["vs_a", "vs_b"], dense, sparse, 5, mode=mode)
                b = client.search(["vs_a", "vs_b"], dense, sparse, 5, mode=mode)
                assert ids(a) == ids(b), mode
                assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
    finally:
        edge.close()
        client.close()


# --- opening --------------------------------------------------------------------------------


def test_open_index_picks_the_engine(tmp_path):
    edge = open_index({"data_dir": tmp_path}, dimensions=DIM)
    try:
        assert isinstance(edge, EdgeIndex)
        assert edge.path == tmp_path / "vectors" / "chunks"
    finally:
        edge.close()

    class Settings:
        qdrant_url = ":memory:"
        qdrant_api_key = None
        data_dir = tmp_path

    client = open_index(Settings(), dimensions=DIM, name="test")
    try:
        assert isinstance(client, QdrantClientIndex)
        assert client.collection == "treadle_test"
    finally:
        client.close()


def test_edge_persists_and_has_one_owner(tmp_path):
    path = tmp_path / "vectors"
    idx = EdgeIndex(path, DIM)
    idx.upsert(corpus())
    with pytest.raises(VectorIndexError):
        EdgeIndex(path, DIM)  # the directory is locked by its owner
    idx.close()
    with pytest.raises(VectorIndexError):
        idx.count("vs_a")
    with pytest.raises(VectorIndexError):
        EdgeIndex(path, DIM + 1)
    again = EdgeIndex(path, DIM)
    try:
        assert again.count("vs_a") == 8
        hits = again.search(["vs_a"], unit(0, 0, 0.2, 1), query_vector("ZX-4471"), 1)
        assert ids(hits) == [("file-gamma", 1)]
    finally:
        again.close()


def test_edge_optimize_keeps_results(tmp_path):
    idx = EdgeIndex(tmp_path / "vectors", DIM)
    try:
        idx.upsert(corpus())
        idx.delete_file("vs_a", "file-beta")
        before = ids(idx.search(["vs_a"], unit(1, 0.1, 0, 0), query_vector("ZX-4471"), 5))
        idx.optimize()
        after = ids(idx.search(["vs_a"], unit(1, 0.1, 0, 0), query_vector("ZX-4471"), 5))
        assert before == after
        assert idx.count("vs_a") == 5
    finally:
        idx.close()


def test_client_local_mode_persists(tmp_path):
    idx = QdrantClientIndex.local(DIM, path=str(tmp_path / "qdrant"))
    idx.upsert(corpus())
    idx.close()
    again = QdrantClientIndex.local(DIM, path=str(tmp_path / "qdrant"))
    try:
        assert again.count("vs_a") == 8
    finally:
        again.close()
    with pytest.raises(VectorIndexError):
        QdrantClientIndex.local(DIM + 1, path=str(tmp_path / "qdrant"))


# --- sparse vectors -------------------------------------------------------------------------


def test_tokenize_keeps_identifiers_whole():
    assert tokenize("Gasket ZX-4471 fits v2.3!") == [
        "gasket",
        "zx",
        "4471",
        "zx-4471",
        "zx4471",
        "fits",
        "v2",
        "3",
        "v2.3",
        "v23",
    ]
    fullwidth = "\uff3a\uff38\uff0d\uff14\uff14\uff17\uff11"  # fullwidth "ZX-4471"
    assert tokenize(fullwidth) == ["zx", "4471", "zx-4471", "zx4471"]  # NFKC
    assert tokenize("end. Next") == ["end", "next"]
    assert tokenize("") == []


def test_sparse_vectors():
    doc = document_vector("pump pump pump gasket")
    assert doc.indices == sorted(doc.indices)
    assert len(doc.indices) == 2
    assert all(0 < v < 2.2 for v in doc.values)  # BM25 saturation: below k1 + 1
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[query_vector("pump").indices[0]] > weights[query_vector("gasket").indices[0]]
    q = query_vector("Pump pump GASKET")
    assert q.values == [1.0, 1.0]
    assert set(q.indices) == set(doc.indices)
    assert document_vector("!!!") == SparseVector()
    assert all(0 <= i < 2**32 for i in query_vector("ZX-4471 ünïcode").indices)


# --- engine specifics -----------------------------------------------------------------------


def test_attribute_keys_get_payload_indexes(tmp_path, monkeypatch):
    from shared.vectors import common
    from shared.vectors.filters import field_key

    idx = EdgeIndex(tmp_path / "vectors", DIM)
    try:
        idx.upsert(corpus())
        assert {
            "attr_index.s.category",
            "attr_index.n.year",
            "attr_index.n.rating",
            "attr_index.b.public",
            f"attr_index.s.{field_key('weird.key name')}",
        } <= idx._indexed
        # A key holding a string in one file and a number in another: two typed fields.
        chunk = corpus()[0]
        chunk.file_id, chunk.attributes = "file-epsilon", {"year": "2023", "extra": 1}
        monkeypatch.setattr(common, "MAX_ATTRIBUTE_INDEXES", len(idx._indexed) - 2 + 1)
        idx.upsert([chunk])
        assert "attr_index.s.year" in idx._indexed
        assert "attr_index.n.extra" not in idx._indexed  # over the cap: filtered unindexed
        assert files(idx, eq("year", "2023")) == {"file-epsilon"}
        assert files(idx, eq("year", 2023)) == {"file-alpha"}
        assert files(idx, eq("extra", 1)) == {"file-epsilon"}
    finally:
        idx.close()


def test_edge_sets_attributes_on_optimized_segments_and_keeps_them(tmp_path):
    path = tmp_path / "vectors"
    idx = EdgeIndex(path, DIM)
    try:
        idx.upsert(corpus())
        idx.optimize()
        idx.set_attributes("vs_a", "file-beta", {"category": "hardware", "batch": 7})
        assert {"attr_index.s.category", "attr_index.n.batch"} <= idx._indexed
        assert idx.count("vs_a") == 8
        assert files(idx, eq("batch", 7)) == {"file-beta"}
        idx.optimize()  # the copies written over the optimised points are vacuumed
        assert idx.count("vs_a") == 8
        assert files(idx, eq("category", "hardware")) == {"file-beta"}
    finally:
        idx.close()
    again = EdgeIndex(path, DIM)
    try:
        assert files(again, eq("category", "hardware")) == {"file-beta"}
        assert files(again, eq("category", "tools")) == set()
    finally:
        again.close()


def test_edge_survives_a_killed_owner(tmp_path):
    """The directory lock dies with its process, and acknowledged writes survive it."""
    import signal
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    path = tmp_path / "vectors"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[4])!r}]
        from test_indexes import corpus, DIM
        from shared.vectors.edge_index import EdgeIndex
        idx = EdgeIndex({str(path)!r}, DIM)
        idx.upsert(corpus())
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(VectorIndexError):
            EdgeIndex(path, DIM)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    idx = EdgeIndex(path, DIM)
    try:
        assert idx.count("vs_a") == 8
        hits = idx.search(["vs_a"], unit(0, 0, 0.2, 1), query_vector("ZX-4471"), 1)
        assert ids(hits) == [("file-gamma", 1)]
    finally:
        idx.close()


def test_bad_chunks_and_arguments_are_refused(index):
    good, bad = corpus()[:2]
    good.vector_store_id = bad.vector_store_id = "vs_c"
    bad.attributes = {"tags": ["a", "b"]}
    with pytest.raises(ValueError):
        index.upsert([good, bad])
    bad = corpus()[1]
    bad.vector_store_id = "vs_c"
    bad.dense = [float("nan")] * DIM
    with pytest.raises(VectorIndexError):
        index.upsert([good, bad])
    assert index.count("vs_c") == 0  # nothing of a refused batch was written
    with pytest.raises(TypeError):
        index.search("vs_a", unit(1, 0, 0, 0), None, 3)
    with pytest.raises(ValueError):
        index.search(["vs_a"], unit(1, 0, 0, 0), None, 3, mode="semantic")


def test_server_payload_index_params_are_valid():
    """The server adapter's index parameters (local mode never sends them) build."""
    from shared.vectors.qdrant_client_index import _SCHEMA

    for kind, build in _SCHEMA.items():
        params = build()
        assert params.enable_hnsw is False, kind
