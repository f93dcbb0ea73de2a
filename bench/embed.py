"""Embedding throughput on this machine: the local model, and the endpoint client.

Prints:

(a) local all-MiniLM-L6-v2 (`workers.ingest.embeddings.LocalEmbedder`, CPU, torch threads =
    --threads, default every CPU this process may use): time to import torch and
    sentence-transformers and to load the model, the process's peak memory; then
    * short sentences (~12 words, one window each) per second, through `embed_documents`;
    * file_search chunks of 800 o200k tokens (about 1,000 word pieces: 4-5 overlapping
      windows of 254 pieces each, mean-pooled) per second, and o200k tokens and windows per
      second; the same chunks with the model's plain truncation (first 254 pieces only) for
      comparison, which is what pooling costs;
    * one query's latency (`embed_query`), p50 and p99.
(b) the endpoint client (`EndpointEmbedder`, batches of --batch-size inputs) against the fake
    model server (`python -m tests.support.model_server`, its own process on a free loopback
    port): inputs per second for the same short sentences and 800-token chunks. That server
    hashes words and answers at once, so this is the client's own cost (HTTP, JSON, base64
    decoding, normalising), an upper bound for a real endpoint.

    .venv/bin/python bench/embed.py [--sentences 512] [--chunks 24] [--threads N]
                                    [--batch-size 256] [--skip-local] [--skip-endpoint]

The machine's cores are shared with whatever else runs on it: figures are lower when it is
busy, so the share of the CPUs that other processes took while the local figures were
measured is printed after them. Exits 0 (this measures, it does not test).
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.config import Settings  # noqa: E402
from workers.ingest.embeddings import (  # noqa: E402
    EndpointEmbedder,
    LocalEmbedder,
    prepare_process,
)

CHUNK_TOKENS = 800
VOCABULARY = [
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their", "has",
    "would", "when", "if", "so", "no", "will", "more", "can", "about", "said", "what", "out", "up",
    "other", "into", "than", "its", "time", "only", "could", "new", "these", "two", "may", "first",
    "then", "do", "any", "like", "my", "now", "over", "such", "our", "man", "me", "even", "most",
    "made", "after", "also", "did", "many", "before", "must", "through", "back", "years", "where",
    "much", "your", "way", "well", "down", "should", "because", "each", "just", "those", "people",
    "how", "too", "little", "state", "good", "very", "make", "world", "still", "own", "see", "men",
    "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day",
    "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off",
    "come", "since", "against", "go", "came", "right", "used", "take", "three", "ledger",
    "invoice", "reactor", "harbour", "glacier", "protein", "algorithm", "cathedral", "orchestra",
    "tariff", "vaccine", "satellite", "bakery", "parliament", "turbine", "manuscript", "volcano",
    "merger", "firmware",
]


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(VOCABULARY) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def sentences(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, rng.randint(8, 16)) for _ in range(count)]


def chunks(count: int, seed: int = 2) -> list[str]:
    """Texts of exactly CHUNK_TOKENS o200k tokens (what file_search's default chunking makes)."""
    import bpe_openai

    encoding = bpe_openai.get_encoding("o200k_base")
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = " ".join(sentence(rng, rng.randint(8, 20)) for _ in range(80))
        out.append(encoding.decode(encoding.encode(text)[:CHUNK_TOKENS]))
    return out


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all CPUs, from /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Share:
    """What share of the machine's CPUs other processes took while figures were measured."""

    def __init__(self) -> None:
        self.elapsed = self.other = 0.0

    def text(self) -> str:
        if not self.elapsed or self.other != self.other:
            return "n/a"
        cpus = os.cpu_count() or 1
        return f"{100 * max(0.0, self.other) / (self.elapsed * cpus):.0f}%"


SHARE = Share()


def timed(function: Callable[[], object]) -> float:
    busy, own = _busy_seconds(), _own_seconds()
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    # other = machine busy time less this process's (and its children's, the server's
    # only once it has exited: so the endpoint figures count the server as "other").
    SHARE.other += (_busy_seconds() - busy) - (_own_seconds() - own)
    SHARE.elapsed += seconds
    return seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_local(args: argparse.Namespace) -> None:
    print("== local model (all-MiniLM-L6-v2, CPU)")
    rss_before = peak_rss_mb()
    prepare_process()  # before torch loads, as LocalEmbedder does
    start = time.perf_counter()
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401

    imported = time.perf_counter() - start
    start = time.perf_counter()
    embedder = LocalEmbedder(threads=args.threads)
    loaded = time.perf_counter() - start
    print(f"import torch + sentence-transformers {imported:6.2f} s, load model {loaded:5.2f} s,"
          f" torch threads {embedder.threads}, peak RSS {peak_rss_mb():.0f} MB"
          f" (+{peak_rss_mb() - rss_before:.0f} MB)")

    short = sentences(args.sentences)
    long = chunks(args.chunks)
    embedder.embed_documents(short[:32])  # warm up
    embedder.embed_documents(long[:2])

    seconds = timed(lambda: embedder.embed_documents(short))
    print(f"short sentences ({statistics.mean(len(s.split()) for s in short):.0f} words):"
          f" {len(short) / seconds:8.1f} sentences/s  ({len(short)} in {seconds:.2f} s)")

    windows = sum(len(embedder.windows(text)) for text in long)
    pieces = sum(len(embedder.tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"])
                 for t in long)
    seconds = timed(lambda: embedder.embed_documents(long))
    print(f"{CHUNK_TOKENS}-token chunks, windowed ({windows / len(long):.1f} windows of <= "
          f"{embedder.window_tokens} of {pieces / len(long):.0f} word pieces each):"
          f" {len(long) / seconds:6.2f} chunks/s = {len(long) * CHUNK_TOKENS / seconds:6.0f}"
          f" tokens/s, {windows / seconds:6.1f} windows/s")
    seconds = timed(lambda: embedder.embed_truncated(long))
    print(f"{CHUNK_TOKENS}-token chunks, truncated to {embedder.window_tokens} pieces"
          f" (comparison): {len(long) / seconds:6.2f} chunks/s")

    queries = short[:50]
    latencies = []
    for query in queries:
        latencies.append(timed(lambda q=query: embedder.embed_query(q)) * 1000)
    latencies.sort()
    print(f"one query: p50 {statistics.median(latencies):.1f} ms,"
          f" p99 {latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def model_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.model_server", "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the model server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_endpoint(args: argparse.Namespace) -> None:
    print(f"== endpoint client (fake model server, batches of {args.batch_size})")
    short = sentences(max(args.sentences, 2048) * 4, seed=3)
    long = chunks(max(args.chunks, 256) * 2, seed=4)
    with model_server() as url:
        embedder = EndpointEmbedder(Settings(
            embeddings_base_url=url, embeddings_api_key="sk-bench", model_max_retries=0),
            batch_size=args.batch_size)
        embedder.embed_documents(short[:64])  # warm up
        for name, texts in (("short sentences", short), (f"{CHUNK_TOKENS}-token chunks", long)):
            seconds = timed(lambda texts=texts: embedder.embed_documents(texts))
            print(f"{name}: {len(texts) / seconds:8.0f} inputs/s  ({len(texts)} in"
                  f" {seconds:.2f} s, {-(-len(texts) // args.batch_size)} requests,"
                  f" {embedder.dimensions} dimensions)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-endpoint", action="store_true")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    if not args.skip_local:
        bench_local(args)
        print(f"(other processes took {SHARE.text()} of the machine's CPUs while the local"
              " figures were measured; above ~10% they are low)")
    if not args.skip_endpoint:
        bench_endpoint(args)


if __name__ == "__main__":
    main()
