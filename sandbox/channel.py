"""The host's side of the kernel's socket: one framed JSON request and reply per cell."""
import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

# sun_path holds 108 bytes; longer paths are reached through the directory's descriptor.
_MAX_SOCKET_PATH = 100


class KernelGoneError(Exception):
    """The kernel closed the connection before answering: it died or was killed."""


def _at(path: Path, act: Callable[[str], None]) -> None:
    if len(str(path)) <= _MAX_SOCKET_PATH:
        act(str(path))
        return
    folder = os.open(path.parent, os.O_PATH)
    try:
        act(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)


def connect(path: Path, timeout: float | None) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        _at(path, conn.connect)
    except BaseException:
        conn.close()
        raise
    return conn


def listen(path: Path) -> socket.socket:
    """A listening socket at `path`, for a kernel to inherit."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _at(path, server.bind)
        server.listen(16)
    except BaseException:
        server.close()
        raise
    return server


def _read_exact(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise KernelGoneError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def exchange(conn: socket.socket, request: dict[str, Any]) -> dict[str, Any]:
    """Send one cell and wait for its reply (socket.timeout when the time limit passes)."""
    body = json.dumps(request).encode()
    try:
        conn.sendall(struct.pack(">I", len(body)) + body)
    except (BrokenPipeError, ConnectionResetError) as error:
        raise KernelGoneError from error
    try:
        (size,) = struct.unpack(">I", _read_exact(conn, 4))
        reply: dict[str, Any] = json.loads(_read_exact(conn, size))
    except ConnectionResetError as error:
        raise KernelGoneError from error
    return reply
