"""Offline token counting: bpe-openai ships the encodings tiktoken would download.

Counted in pieces with special tokens read as plain text, so neither a huge message nor one
that contains `<|endoftext|>` can make counting fail.
"""
from workers.ingest.chunking import encode_pieces


def count(text: str) -> int:
    return sum(len(piece) for piece in encode_pieces(text)) if text else 0
