"""Ingest throughput against the raw embedding throughput on the same text.

Ingest is timed through the real path: files uploaded through the API (not timed), a file
batch created, then the wall time until the ingest pool (`treadle worker --pool ingest`)
has every file `completed` (extract, chunk, embed, keyword vectors, upsert, parsed text
kept). Raw embedding is the same embedder called in this process on the same chunks, in
the same batches, with nothing else around it. The ratio raw / ingest time is the share of
the embedder's throughput that ingest keeps (target >= 90%). Also printed: the ingest
worker's peak resident memory (VmHWM), which includes the embedding model when local.

Two cases:

* local model (all-MiniLM-L6-v2 on the CPU): a text of --local-mb (default 0.5) MB, raw
  embedding timed before and after ingest and averaged. The model (~10 chunks/s of 800
  tokens on 2 idle cores) would take hours over 200 MB, hence:
* endpoint: the test model server's embeddings (it hashes words and answers at once, so
  the embedder is nearly free and this measures everything around it) for a batch with a
  text of --big-mb (default 200) MB among small docx, pptx, xlsx and pdf files.

    .venv/bin/python bench/ingest.py [--local-mb 0.5] [--big-mb 200] [--skip-local]
                                     [--skip-big] [--redis-url redis://127.0.0.1:6379/13]

Exits 0 (this measures, it does not test).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import openai  # noqa: E402
from serving import Stack, serving  # noqa: E402

from shared.config import Settings  # noqa: E402
from tests.support import documents  # noqa: E402
from workers.ingest.chunking import iter_chunks  # noqa: E402
from workers.ingest.embeddings import (  # noqa: E402
    Embedder,
    EndpointEmbedder,
    LocalEmbedder,
)
from workers.ingest.extract import extract_text  # noqa: E402
from workers.ingest.tasks import EMBED_BATCH  # noqa: E402

TARGET_RATIO = 0.90
MB = 1024 * 1024


def write_text(path: Path, size: int) -> None:
    """`size` bytes of varied prose: a 4 MB generated block, repeated with numbered parts."""
    block = documents.text_of_size(min(size, 4 * MB)).encode()
    written = 0
    part = 0
    with open(path, "wb") as out:
        while written < size:
            piece = f"\nPart {part}.\n".encode() + block
            piece = piece[: size - written]
            out.write(piece)
            written += len(piece)
            part += 1


def client_for(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=stack.key, max_retries=2,
                         timeout=600)


def ingest(stack: Stack, paths: Sequence[Path]) -> tuple[float, int]:
    """Seconds from creating the batch to every file completed, and bytes of text."""
    client = client_for(stack)
    ids = []
    for path in paths:
        with open(path, "rb") as handle:
            ids.append(client.files.create(file=(path.name, handle), purpose="assistants").id)
    store = client.vector_stores.create(name="bench")
    started = time.perf_counter()
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    while batch.status == "in_progress":
        time.sleep(0.05)
        batch = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    elapsed = time.perf_counter() - started
    if batch.file_counts.completed != len(ids):
        failed = client.vector_stores.files.list(vector_store_id=store.id, filter="failed")
        raise RuntimeError(f"ingest failed: {[f.last_error for f in failed]}")
    return elapsed, client.vector_stores.retrieve(store.id).usage_bytes


def raw_embedding(embedder: Embedder, paths: Sequence[Path]) -> tuple[float, int]:
    """Seconds the embedder alone takes over the chunks ingest makes, and the chunk count."""
    chunks = [c.text for path in paths
              for c in iter_chunks(extract_text(path, path.name).text, 800, 400)]
    started = time.perf_counter()
    for start in range(0, len(chunks), EMBED_BATCH):
        embedder.embed_documents(chunks[start:start + EMBED_BATCH])
    return time.perf_counter() - started, len(chunks)


def report(label: str, stack: Stack, ingest_s: float, text_bytes: int, raw_s: float,
           chunks: int) -> None:
    ratio = raw_s / ingest_s
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"{label}")
    print(f"  text {text_bytes / MB:,.1f} MB, {chunks:,} chunks of 800 tokens (400 overlap)")
    print(f"  ingest    {ingest_s:8.1f} s = {text_bytes / 1024 / ingest_s:9.1f} KB/s "
          f"= {chunks / ingest_s:8.1f} chunks/s")
    print(f"  raw embed {raw_s:8.1f} s = {text_bytes / 1024 / raw_s:9.1f} KB/s "
          f"= {chunks / raw_s:8.1f} chunks/s")
    print(f"  ingest keeps {ratio:.0%} of the raw embedding throughput: {verdict} the "
          f"{TARGET_RATIO:.0%} target")
    print(f"  ingest worker peak RSS {stack.peak_rss_mb('ingest'):,.0f} MB")


def local_case(redis_url: str, size: int, workdir: Path) -> None:
    text = workdir / "local.txt"
    write_text(text, size)
    with serving(redis_url, local_embeddings=True) as stack:
        # The first file loads the model in the worker: not timed.
        warm = workdir / "warm.txt"
        warm.write_text("Warm the embedding model up.")
        ingest(stack, [warm])
        # Raw embedding before and after ingest, averaged: other work on the machine
        # drifts, and this way it weighs on both figures alike.
        embedder = LocalEmbedder()
        before, chunks = raw_embedding(embedder, [text])
        ingest_s, text_bytes = ingest(stack, [text])
        after, _ = raw_embedding(embedder, [text])
        print(f"  raw embedding before ingest {before:.1f} s, after {after:.1f} s")
        report("local model (all-MiniLM-L6-v2, CPU)", stack, ingest_s, text_bytes,
               (before + after) / 2, chunks)


def big_case(redis_url: str, size: int, workdir: Path) -> None:
    big = workdir / "big.txt"
    write_text(big, size)
    small: dict[str, Any] = {"report.docx": documents.docx_bytes(),
                             "slides.pptx": documents.pptx_bytes(),
                             "budget.xlsx": documents.xlsx_bytes(),
                             "paper.pdf": documents.pdf_bytes()}
    paths = [big]
    for name, data in small.items():
        (workdir / name).write_bytes(data)
        paths.append(workdir / name)
    with serving(redis_url) as stack:
        warm = workdir / "warm.txt"
        warm.write_text("Open the vector engine.")
        ingest(stack, [warm])
        ingest_s, text_bytes = ingest(stack, paths)
        embedder = EndpointEmbedder(Settings(embeddings_base_url=stack.model_url))
        raw_s, chunks = raw_embedding(embedder, paths)
        report(f"endpoint (test model server), {size / MB:,.0f} MB text + docx, pptx, xlsx, "
               f"pdf", stack, ingest_s, text_bytes, raw_s, chunks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-mb", type=float, default=0.5)
    parser.add_argument("--big-mb", type=float, default=200.0)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="treadle_bench_ingest_") as scratch:
        workdir = Path(scratch)
        if not args.skip_local:
            local_case(args.redis_url, int(args.local_mb * MB), workdir)
        if not args.skip_big:
            big_case(args.redis_url, int(args.big_mb * MB), workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
