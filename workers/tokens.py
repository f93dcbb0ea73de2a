"""Offline token counting: bpe-openai ships the encodings tiktoken would download."""
from functools import cache

import bpe_openai


@cache
def _encoding() -> bpe_openai.Encoding:
    return bpe_openai.get_encoding("o200k_base")


def count(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0
