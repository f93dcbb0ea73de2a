"""File bytes behind a small interface: Postgres parts (shared by every host) or a directory."""
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from shared.config import get_settings
from shared.errors import InvalidRequestError
from shared.storage.db import Conn, get_pool

PART_BYTES = 1024 * 1024


class BlobStore(Protocol):
    def write(self, conn: Conn, key: str, stream: BinaryIO, limit: int) -> int:
        """Store the stream under `key` inside `conn`'s transaction; returns its size."""

    def read(self, key: str) -> Iterator[bytes]:
        """The stored bytes in order, without holding them all in memory."""

    def delete(self, conn: Conn, key: str) -> None: ...


def _parts(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    total = 0
    while chunk := stream.read(PART_BYTES):
        total += len(chunk)
        if total > limit:
            raise InvalidRequestError(
                f"File is too large: the limit is {limit} bytes.", param="file",
                code="file_too_large",
            )
        yield chunk


class PostgresBlobStore:
    def write(self, conn: Conn, key: str, stream: BinaryIO, limit: int) -> int:
        size = 0
        for number, chunk in enumerate(_parts(stream, limit)):
            conn.execute(
                "INSERT INTO blob_parts (key, part, data) VALUES (%s, %s, %s)",
                (key, number, chunk),
            )
            size += len(chunk)
        return size

    def read(self, key: str) -> Iterator[bytes]:
        with get_pool().connection() as conn:
            count = conn.execute(
                "SELECT count(*) AS n FROM blob_parts WHERE key = %s", (key,)
            ).fetchone()
        for number in range(count["n"] if count else 0):
            with get_pool().connection() as conn:
                row = conn.execute(
                    "SELECT data FROM blob_parts WHERE key = %s AND part = %s", (key, number)
                ).fetchone()
            if row is not None:
                yield bytes(row["data"])

    def delete(self, conn: Conn, key: str) -> None:
        conn.execute("DELETE FROM blob_parts WHERE key = %s", (key,))


class DirectoryBlobStore:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[-2:] / key

    def write(self, conn: Conn, key: str, stream: BinaryIO, limit: int) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        size = 0
        try:
            with open(partial, "wb") as out:
                for chunk in _parts(stream, limit):
                    out.write(chunk)
                    size += len(chunk)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return size

    def read(self, key: str) -> Iterator[bytes]:
        with open(self._path(key), "rb") as source:
            while chunk := source.read(PART_BYTES):
                yield chunk

    def delete(self, conn: Conn, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def get_blob_store() -> BlobStore:
    settings = get_settings()
    if settings.blob_store == "directory":
        return DirectoryBlobStore(settings.data_dir / "files")
    return PostgresBlobStore()
