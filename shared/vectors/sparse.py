"""Keyword (sparse) vectors, built without any model.

A chunk's text becomes a sparse vector over hashed tokens: index = CRC-32 of the token
(a uint32, the index type Qdrant's sparse vectors take), value = the token's term frequency
with BM25 saturation and length normalisation. A query becomes a sparse vector with weight
1.0 for each distinct token. The collection's sparse vector is configured with Qdrant's IDF
modifier (both engines support it), so the engine multiplies each query weight by the
token's inverse document frequency at search time; the dot product is then BM25:

    score(q, d) = sum over t in q and d of  idf(t) * tf(t, d) * (k1 + 1)
                                              / (tf(t, d) + k1 * (1 - b + b * |d| / avg_len))

with idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5)) computed by Qdrant over the whole
collection. Nothing here depends on the engine, so both adapters (and a later migration
between them) index the same vectors.

Tokens: the text is NFKC-normalised and lowercased; every run of word characters (``\\w+``)
is a token. Identifiers joined by ``-``, ``.``, ``/``, ``:``, ``@`` or ``+`` ("ZX-4471",
"v2.3.1", "user@example.com") are also indexed whole ("zx-4471") and with the separators
dropped ("zx4471"), so a query for "ZX-4471", "zx4471" or "ZX 4471" finds the chunk and
the whole identifier outranks chunks that merely mention "zx" and "4471" apart.
No stop words and no stemming: IDF takes care of common words.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

# A run of word characters, optionally joined to more by one separator each.
_COMPOUND = re.compile(r"\w+(?:[-./:@+]\w+)*")
_WORD = re.compile(r"\w+")

MAX_TOKEN_CHARS = 128
K1 = 1.2
B = 0.75
# Expected document length in tokens (as counted by `tokenize`). 256 is Qdrant's own BM25
# default; a chunk of OpenAI's default 800 BPE tokens counts about 650 here, which only
# scales every document weight down a little: the ranking barely moves.
AVG_LEN = 256.0


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Parallel lists: unique uint32 ``indices`` (sorted) and their ``values``."""

    indices: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError("sparse vector indices and values differ in length")

    def __bool__(self) -> bool:
        return bool(self.indices)


def tokenize(text: str) -> list[str]:
    """Tokens of ``text`` in order, compound identifiers followed by their whole forms."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for whole in _COMPOUND.findall(text):
        parts = _WORD.findall(whole)
        if len(parts) == 1:  # a plain word, most of them: the quick way
            if len(whole) <= MAX_TOKEN_CHARS:
                tokens.append(whole)
            continue
        tokens.extend(part for part in parts if len(part) <= MAX_TOKEN_CHARS)
        joined = "".join(parts)
        if len(whole) <= MAX_TOKEN_CHARS:
            tokens.append(whole)
        if len(joined) <= MAX_TOKEN_CHARS:
            tokens.append(joined)
    return tokens


@lru_cache(maxsize=1 << 18)
def token_index(token: str) -> int:
    """The sparse dimension of ``token``: stable across processes and machines."""
    return zlib.crc32(token.encode("utf-8"))


def _counts(tokens: list[str]) -> Counter[int]:
    # Counting the strings first (in C) hashes each distinct token once.
    counts: Counter[int] = Counter()
    for token, n in Counter(tokens).items():
        counts[token_index(token)] += n
    return counts


def document_vector(
    text: str, *, k1: float = K1, b: float = B, avg_len: float = AVG_LEN
) -> SparseVector:
    """The sparse vector stored with a chunk: BM25-saturated term frequencies."""
    tokens = tokenize(text)
    if not tokens:
        return SparseVector()
    counts = _counts(tokens)
    norm = k1 * (1.0 - b + b * len(tokens) / avg_len)
    indices = sorted(counts)
    values = [counts[i] * (k1 + 1.0) / (counts[i] + norm) for i in indices]
    return SparseVector(indices, values)


def query_vector(text: str) -> SparseVector:
    """The sparse vector of a search query: 1.0 for every distinct token."""
    indices = sorted(_counts(tokenize(text)))
    return SparseVector(indices, [1.0] * len(indices))
