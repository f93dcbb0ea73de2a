"""Token chunking: window sizes and overlaps exact in o200k_base tokens, chunks that are
slices of the text and cover it, and streaming encoding equal to encoding the whole."""
import random
from itertools import pairwise

import pytest

from tests.support.documents import text_of_size
from workers.ingest import chunking
from workers.ingest.chunking import (
    Chunk,
    chunk,
    encode_pieces,
    iter_chunks,
)

ASCII_WORDS = (
    "The vector store keeps files; each file is cut into chunks of tokens that overlap, "
    "so a sentence on a boundary is found from either side. Run 42 asked: where is it?\n"
)


def ascii_text(size: int) -> str:
    return (ASCII_WORDS * (size // len(ASCII_WORDS) + 1))[:size]


def tokens_of(text: str) -> list[int]:
    return [t for piece in encode_pieces(text) for t in piece]


def assert_covers(text: str, chunks: list[Chunk]) -> None:
    """Each chunk is the slice of the text its offsets name; together they cover it all."""
    assert chunks[0].start_char == 0
    assert chunks[-1].end_char == len(text)
    for c in chunks:
        assert c.text == text[c.start_char:c.end_char]
    for before, after in pairwise(chunks):
        assert after.start_char <= before.end_char
        assert after.start_char > before.start_char
        assert after.end_char > before.end_char


def test_empty_text_has_no_chunks() -> None:
    assert chunk("") == []
    assert list(iter_chunks("")) == []


def test_short_text_is_one_chunk() -> None:
    assert chunk("Hello, world.") == ["Hello, world."]
    assert chunk("   ") == ["   "]


@pytest.mark.parametrize(("size", "overlap"), [(800, 400), (100, 50), (4096, 2048), (300, 0),
                                               (256, 17)])
def test_windows_are_exact_in_tokens(size: int, overlap: int) -> None:
    text = ascii_text(120_000)
    tokens = tokens_of(text)
    chunks = list(iter_chunks(text, size, overlap))
    assert len(chunks) > 3
    stride = size - overlap
    for i, c in enumerate(chunks):
        assert c.start_token == i * stride
        assert c.tokens == size or c is chunks[-1]
        assert c.text == chunking._encoding().decode(tokens[c.start_token:c.end_token])
    for before, after in pairwise(chunks):
        assert before.end_token - after.start_token == overlap
    last = chunks[-1]
    assert 0 < last.tokens <= size
    assert last.end_token == len(tokens)
    assert last.end_token > chunks[-2].end_token  # the last chunk brings new tokens
    assert_covers(text, chunks)
    assert chunk(text, size, overlap) == [c.text for c in chunks]


def test_no_overlap_partitions_the_text() -> None:
    text = text_of_size(50_000)
    assert "".join(chunk(text, 200, 0)) == text


def test_chunk_count_follows_the_stride() -> None:
    text = ascii_text(60_000)
    total = len(tokens_of(text))
    chunks = chunk(text)  # auto: 800 / 400
    assert len(chunks) == max(1, -(-(total - 400) // 400))


def test_text_of_exactly_one_window() -> None:
    text = ascii_text(20_000)
    tokens = tokens_of(text)
    exact = chunking._encoding().decode(tokens[:800])
    assert chunk(exact) == [exact]
    one_more = chunking._encoding().decode(tokens[:801])
    parts = list(iter_chunks(one_more))
    assert [p.tokens for p in parts] == [800, 401]


def test_streaming_encoding_equals_encoding_the_whole() -> None:
    # Many seams (pieces are 32 KiB); under bpe-openai's one-call limits so it can compare.
    for text in (text_of_size(700_000), ascii_text(500_000)):
        pieces = list(encode_pieces(text))
        assert len(pieces) > 10
        assert [t for p in pieces for t in p] == chunking._encoding().encode_ordinary(text)


def test_text_without_any_seam_still_chunks() -> None:
    text = "abcdefghij" * 60_000  # one 600,000-letter word: hard cuts between pieces
    chunks = list(iter_chunks(text, 500, 100))
    assert all(c.tokens <= 500 for c in chunks)
    assert_covers(text, chunks)


def test_characters_split_across_tokens_are_never_cut() -> None:
    # Rare characters are byte-level tokens; a window edge moves back to a whole character.
    rng = random.Random(5)
    rare = [chr(c) for c in (0x1D51E, 0x1D51F, 0x16A0, 0x16A2, 0x1FAE0, 0x1F9A9, 0xA66E, 0x2603)]
    text = "".join(rng.choice([*rare, " ", "a", "1"]) for _ in range(40_000)) + "end"
    chunks = list(iter_chunks(text, 101, 50))
    assert all(c.tokens <= 101 for c in chunks)
    assert any(c.tokens < 101 for c in chunks[:-1])  # some edges did move
    for before, after in pairwise(chunks):
        assert 50 <= before.end_token - after.start_token <= 53
    assert all("\ufffd" not in c.text for c in chunks)
    assert_covers(text, chunks)


def test_special_token_text_is_plain_text() -> None:
    text = "before <|endoftext|> after <|fim_prefix|> " * 200
    chunks = list(iter_chunks(text, 100, 20))
    assert_covers(text, chunks)


def test_lone_surrogates_do_not_break_chunking() -> None:
    text = "left \ud800 right " * 100
    chunks = chunk(text, 100, 10)
    assert chunks and all("\ud800" not in c for c in chunks)


def test_five_megabyte_text() -> None:
    text = text_of_size(5 * 1024 * 1024)
    chunks = list(iter_chunks(text))
    assert len(chunks) > 1000
    assert all(c.tokens <= 800 for c in chunks)
    assert_covers(text, chunks)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)])
def test_bad_windows_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk("text", size, overlap)
