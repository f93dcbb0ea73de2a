"""Token chunking for file_search: windows of o200k_base tokens that overlap.

A text is cut into windows of `max_tokens` tokens, each starting `max_tokens - overlap`
tokens after the one before, so consecutive chunks share exactly `overlap` tokens; the last
chunk may be shorter. Every chunk is an exact slice of the text (what its tokens decode to).

Two things keep this fast and bounded on texts of hundreds of megabytes:

* The text is encoded in pieces of at most `PIECE_CHARS` characters (bpe-openai refuses a
  single call on 1,000,000 characters or more, or one that yields more than 200,000 tokens),
  cut where the tokenizer's pre-tokenization would cut anyway (before a line that starts with a
  letter, or before the space between two letters), so the tokens are those of the whole text.
  Only a piece's worth of tokens is held at a time.
* A chunk's text is sliced out of the input by character offsets, summed (in C, through
  `itertools.accumulate`) from a per-token table, instead of decoding its tokens one by one.

A token can hold part of a character (o200k_base falls back to bytes for rare ones). A window
edge never splits a character: it moves back to the nearest whole-character boundary (at most
three tokens), so a chunk never exceeds `max_tokens`, and in that rare case the overlap is a
few tokens more than asked.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import bpe_openai

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400

# A character is at most 4 UTF-8 bytes and a token at least one byte, so a piece of this many
# characters yields at most 131,072 tokens: under bpe-openai's 200,000 per call.
PIECE_CHARS = 32_768

_SURROGATES = re.compile("[\ud800-\udfff]")


class Chunk(NamedTuple):
    """One window: its text and where it lies, in tokens and in characters of the text."""

    text: str
    start_token: int
    end_token: int
    start_char: int
    end_char: int

    @property
    def tokens(self) -> int:
        return self.end_token - self.start_token


@cache
def _encoding() -> bpe_openai.Encoding:
    import bpe_openai

    return bpe_openai.get_encoding("o200k_base")


@cache
def _tables() -> tuple[list[int], bytes]:
    """Per token id: how many characters it ends up contributing (its UTF-8 lead bytes), and
    whether it starts in the middle of a character (its first byte is a continuation byte)."""
    char_count: list[int] = []
    starts_inside = bytearray()
    for token_bytes in _encoding().token_byte_values():
        char_count.append(sum(1 for b in token_bytes if not 0x80 <= b < 0xC0))
        starts_inside.append(1 if token_bytes and 0x80 <= token_bytes[0] < 0xC0 else 0)
    return char_count, bytes(starts_inside)


def _seam(text: str, start: int) -> int:
    """Where the piece that begins at `start` ends: a cut that leaves the tokens unchanged,
    in the second half of the next PIECE_CHARS characters, else a plain cut at the limit."""
    hi = start + PIECE_CHARS
    if hi >= len(text):
        return len(text)
    lo = start + PIECE_CHARS // 2
    # Before a line that starts with a letter: the newline ends its pre-token, and a word
    # pre-token never takes a newline in front of it.
    j = hi
    for _ in range(512):
        j = text.rfind("\n", lo, j)
        if j < 0:
            break
        if text[j + 1].isalpha():
            return j + 1
    # Before the single space between two letters: the word before ends there and the space
    # opens the next word's pre-token either way.
    j = hi
    for _ in range(512):
        j = text.rfind(" ", lo + 1, j)
        if j < 0:
            break
        if text[j - 1].isalpha() and text[j + 1].isalpha():
            return j
    return hi


def _pieces(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = _seam(text, start)
        yield text[start:end]
        start = end


def encode_pieces(text: str) -> Iterator[list[int]]:
    """The text's o200k_base tokens, piece by piece (special-token text is plain text)."""
    encoding = _encoding()
    for piece in _pieces(_clean(text)):
        yield encoding.encode_ordinary(piece)


def _clean(text: str) -> str:
    # Lone surrogates have no UTF-8 form; replace them one for one so offsets still hold.
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def _back_to_char_start(tokens: list[int], i: int, floor: int, starts_inside: bytes) -> int:
    """Move the cut before tokens[i] back until it falls between two characters."""
    j = i
    while floor < j < len(tokens) and starts_inside[tokens[j]]:
        j -= 1
    return j if j > floor else i


def _check_window(max_tokens: int, overlap: int) -> None:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f"overlap must be a non-negative integer, got {overlap!r}")
    if overlap >= max_tokens:
        raise ValueError(f"overlap ({overlap}) must be smaller than max_tokens ({max_tokens})")


def iter_chunks(
    text: str, max_tokens: int = AUTO_MAX_TOKENS, overlap: int = AUTO_OVERLAP_TOKENS
) -> Iterator[Chunk]:
    """Yield the chunks of `text` one at a time, holding only about a piece of tokens."""
    _check_window(max_tokens, overlap)
    text = _clean(text)
    if not text:
        return
    encoding = _encoding()
    char_count, starts_inside = _tables()
    count_chars = char_count.__getitem__

    buf: list[int] = []  # tokens from global index `base` on
    offsets: list[int] = [0]  # offsets[i]: character offset where buf[i] starts (one more)
    base = 0
    pos = 0  # index in buf where the next chunk starts
    emitted_to = 0  # global index of the end of the last chunk yielded
    for piece in _pieces(text):
        if pos:
            del buf[:pos]
            del offsets[:pos]
            base += pos
            pos = 0
        tokens = encoding.encode_ordinary(piece)
        buf.extend(tokens)
        offsets.extend(accumulate(map(count_chars, tokens), initial=offsets[-1]))
        del offsets[len(buf) - len(tokens)]  # `initial` repeated the last offset
        while len(buf) - pos > max_tokens:
            end = _back_to_char_start(buf, pos + max_tokens, pos, starts_inside)
            nxt = end
            if overlap:
                nxt = _back_to_char_start(buf, end - overlap, pos, starts_inside)
                if nxt <= pos:  # only with windows a few tokens wide
                    nxt = end
            start_char, end_char = offsets[pos], offsets[end]
            yield Chunk(text[start_char:end_char], base + pos, base + end, start_char, end_char)
            emitted_to = base + end
            pos = nxt
    if base + len(buf) > emitted_to:
        yield Chunk(text[offsets[pos]:], base + pos, base + len(buf), offsets[pos], len(text))


def chunk(
    text: str, max_tokens: int = AUTO_MAX_TOKENS, overlap: int = AUTO_OVERLAP_TOKENS
) -> list[str]:
    """Cut `text` into chunks of at most `max_tokens` tokens, consecutive ones sharing
    `overlap` tokens; the last may be shorter. An empty text has no chunks."""
    return [c.text for c in iter_chunks(text, max_tokens, overlap)]
