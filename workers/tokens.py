"""Offline token counting: bpe-openai ships the encodings tiktoken would download.

Counted in pieces with special tokens read as plain text, so neither a huge message nor one
that contains `<|endoftext|>` can make counting fail.
"""
from workers.ingest.chunking import encode_pieces

# A streamed text's tail that holds no seam is counted again with each addition; past this
# many characters it is settled where it stands (see TokenCounter).
MAX_TAIL_CHARS = 2048
# How many candidate places the search for a seam looks at, from the end of the text.
SEAM_TRIES = 64


def count(text: str) -> int:
    return sum(len(piece) for piece in encode_pieces(text)) if text else 0


def _last_seam(text: str, start: int) -> int:
    """The last place at or after `start` where `text` can be cut without changing its
    tokens, or 0. The encoding's pre-tokens (which no token crosses) never end in a space
    unless they are all whitespace, and a single space before anything but whitespace opens
    the next one; nor does a word take the newline in front of it. So the cuts are: before a
    single space between two other characters, or before a line that starts with a letter
    (`workers.ingest.chunking` cuts its pieces at a subset of these)."""
    lo = max(start, 1)
    best = 0
    j = len(text) - 1
    for _ in range(SEAM_TRIES):
        j = text.rfind(" ", lo, j)
        if j < 0:
            break
        if not text[j - 1].isspace() and not text[j + 1].isspace():
            best = j
            break
    j = len(text) - 1
    for _ in range(SEAM_TRIES):
        j = text.rfind("\n", lo - 1, j)
        if j < 0 or j + 1 <= best:
            break
        if text[j + 1].isalpha():
            return j + 1
    return best


class TokenCounter:
    """The running count of a text that grows at its end, as a model writes it.

    Each addition counts again only the text after the last seam (see `_last_seam`), so a
    long answer is not counted from its start with every chunk, and the total is the whole
    text's count. A tail that finds no seam in MAX_TAIL_CHARS characters (one enormous
    word, dense code) is settled where it stands; that cut may count a token or two more
    than the whole text would.
    """

    def __init__(self) -> None:
        self._settled = 0
        self._tail = ""
        self._tail_tokens = 0

    @property
    def total(self) -> int:
        return self._settled + self._tail_tokens

    def add(self, text: str, limit: int | None = None) -> int:
        """Count `text` in after what came before, or with a `limit` only as much of it as
        keeps the total within the limit (the longest such prefix); how many characters of
        it were taken."""
        if not text:
            return 0
        tail = self._tail + text
        tail_tokens = count(tail)
        if limit is not None and self._settled + tail_tokens > limit:
            text = text[:self.fitting(text, limit)]
            tail = self._tail + text
            tail_tokens = count(tail)
        seam = _last_seam(tail, max(len(self._tail) - 1, 0))
        if seam:
            # Exact: no token crosses the seam.
            head = count(tail[:seam])
            self._settled += head
            tail_tokens -= head
            tail = tail[seam:]
        if len(tail) > MAX_TAIL_CHARS:
            self._settled += tail_tokens
            tail, tail_tokens = "", 0
        self._tail, self._tail_tokens = tail, tail_tokens
        return len(text)

    def total_with(self, text: str) -> int:
        """The total if `text` were added, nothing added."""
        return self._settled + count(self._tail + text)

    def fitting(self, text: str, limit: int) -> int:
        """How many characters of `text` can be added with the total staying within
        `limit`: the longest such prefix, found by bisection (a count grows with its
        text, but for the rare merge that makes one character cost nothing)."""
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.total_with(text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return lo
