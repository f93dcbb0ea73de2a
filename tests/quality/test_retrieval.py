"""Retrieval quality with the local embedding model and the embedded engine: recall@5 of
dense-only, keyword-only and hybrid search over the generated corpus, and the embedder's
sub-window pooling against plain truncation (`tests.quality.retrieval`)."""
from pathlib import Path

import pytest

from tests.quality.corpus import build
from tests.quality.retrieval import POOLED, TRUNCATED, Report, measure


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    measured = measure(data_dir=Path(tmp_path_factory.mktemp("quality")))
    print("\n" + measured.table())
    return measured


def test_the_corpus_is_big_enough_and_fixed() -> None:
    corpus = build()
    assert len(corpus.documents) >= 50
    assert {q.kind for q in corpus.questions} == {"paraphrase", "keyword"}
    assert len({d.name for d in corpus.documents}) == len(corpus.documents)
    assert build() == corpus


def test_hybrid_recall(report: Report) -> None:
    recall = report.recall
    assert recall[(POOLED, "hybrid", "all")] >= 0.9
    assert recall[(POOLED, "hybrid", "keyword")] > recall[(POOLED, "dense", "keyword")]
    # Neither retriever alone does as well over both kinds of question.
    assert recall[(POOLED, "hybrid", "all")] > recall[(POOLED, "dense", "all")]
    assert recall[(POOLED, "hybrid", "all")] > recall[(POOLED, "keyword", "all")]


def test_pooled_windows_find_facts_past_the_model_limit(report: Report) -> None:
    """Facts placed past the model's 256 word pieces are invisible to a truncated vector;
    the pooled windows still find them."""
    assert report.recall[(TRUNCATED, "dense", "late")] < 0.1
    assert report.recall[(POOLED, "dense", "late")] >= 0.4
    assert report.recall[(POOLED, "dense", "all")] > report.recall[(TRUNCATED, "dense", "all")]
