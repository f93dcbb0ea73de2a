"""The kernel that runs inside a sandbox: executes code cells in one namespace, like a notebook.

It is started as `python3 -I -c <this source>` inside the sandbox, so it may use only the
standard library of the sandbox's Python (Debian bookworm: 3.11) and never imports Treadle.
It listens on a unix socket (bound in a directory the host shares with the sandbox, or made
by the host and inherited) and serves one cell per connection: a 4-byte big-endian length,
then JSON, each way.

    request:  {"code", "files": [{"name", "data"}], "output_limit", "files_limit"}
    reply:    {"logs", "error", "files": [{"name", "data", "is_image"}], "notes"}

`data` is base64. Files are the ones under /mnt/data that the cell created or changed, and
matplotlib figures it left open (as PNG images, like a notebook displaying them).
"""
import ast
import base64
import contextlib
import io
import json
import os
import socket
import struct
import sys
import tempfile
import traceback
import warnings
from collections import deque
from typing import Any

DATA = "/mnt/data"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg")
# The Agg backend warns on plt.show(); in a notebook show() simply displays the figure.
warnings.filterwarnings("ignore", message=".*non-interactive.*")


class Capture(io.TextIOBase):
    """Python-level output of a cell: the head and tail are kept, the middle is counted."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head: list[str] = []
        self.head_size = 0
        self.tail: deque[str] = deque()
        self.tail_size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        written = len(text)
        if self.head_size < self.half:
            part = text[: self.half - self.head_size]
            self.head.append(part)
            self.head_size += len(part)
            text = text[len(part):]
        if text:
            self.tail.append(text)
            self.tail_size += len(text)
            while self.tail_size - len(self.tail[0]) >= self.half:
                self.dropped += len(self.tail[0])
                self.tail_size -= len(self.tail.popleft())
        return written

    def text(self) -> str:
        tail = "".join(self.tail)
        overflow = max(self.tail_size - self.half, 0)
        dropped = self.dropped + overflow
        tail = tail[overflow:]
        head = "".join(self.head)
        if not dropped:
            return head + tail
        return f"{head}\n... [output truncated: {dropped} characters omitted] ...\n{tail}"


def _read_exact(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(conn: socket.socket) -> Any:
    (size,) = struct.unpack(">I", _read_exact(conn, 4))
    return json.loads(_read_exact(conn, size))


def _send(conn: socket.socket, message: Any) -> None:
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


def _snapshot() -> dict[str, tuple[int, int]]:
    seen = {}
    for folder, _, names in os.walk(DATA):
        for name in names:
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            seen[os.path.relpath(path, DATA)] = (stat.st_size, stat.st_mtime_ns)
    return seen


def _place(files: list[dict[str, str]]) -> None:
    for item in files:
        with open(os.path.join(DATA, os.path.basename(item["name"])), "wb") as out:
            out.write(base64.b64decode(item["data"]))


def _run(code: str, namespace: dict[str, Any]) -> bool:
    """Run a cell; a last expression's value is printed, as a notebook shows it."""
    try:
        tree = ast.parse(code, "<cell>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body[-1].value)
            tree.body.pop()
        exec(compile(tree, "<cell>", "exec"), namespace)
        if last is not None:
            value = eval(compile(last, "<cell>", "eval"), namespace)
            if value is not None:
                print(repr(value))
        return False
    except BaseException:  # everything the cell raises is its output
        kind, value, trace = sys.exc_info()
        # Drop this function's own frame: the user sees only their cell.
        text = "".join(traceback.format_exception(kind, value, trace.tb_next if trace else None))
        sys.stderr.write(text)
        return True


def _figures() -> list[bytes]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    for number in pyplot.get_fignums():
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png")
        images.append(buffer.getvalue())
    pyplot.close("all")
    return images


def _changed(before: dict[str, tuple[int, int]], limit: int,
             notes: list[str]) -> list[dict[str, Any]]:
    files = []
    total = 0
    for name, state in sorted(_snapshot().items()):
        if before.get(name) == state:
            continue
        if total + state[0] > limit:
            notes.append(f"{name} was not returned: the files of one call may hold "
                         f"{limit} bytes.")
            continue
        with open(os.path.join(DATA, name), "rb") as source:
            data = source.read()
        total += len(data)
        files.append({"name": name, "data": base64.b64encode(data).decode(),
                      "is_image": name.lower().endswith(IMAGE_EXTENSIONS)})
    return files


def _fd_output(source: Any, limit: int) -> str:
    """Output written straight to file descriptors 1 and 2 (subprocesses, C code)."""
    size = source.seek(0, os.SEEK_END)
    source.seek(0)
    if size <= limit:
        return source.read().decode(errors="replace")
    head = source.read(limit // 2).decode(errors="replace")
    source.seek(size - limit // 2)
    tail = source.read().decode(errors="replace")
    return f"{head}\n... [output truncated: {size - limit} bytes omitted] ...\n{tail}"


def _cell(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    _place(request["files"])
    before = _snapshot()
    limit = request["output_limit"]
    capture = Capture(limit)
    with tempfile.TemporaryFile(dir="/tmp") as raw:
        saved = os.dup(1), os.dup(2)
        os.dup2(raw.fileno(), 1)
        os.dup2(raw.fileno(), 2)
        sys.stdout = sys.stderr = capture
        try:
            error = _run(request["code"], namespace)
            images = _figures()
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        logs = _fd_output(raw, limit) + capture.text()
    notes: list[str] = []
    files = _changed(before, request["files_limit"], notes)
    files += [{"name": f"image-{index}.png", "data": base64.b64encode(png).decode(),
               "is_image": True, "figure": True} for index, png in enumerate(images)]
    return {"logs": logs, "error": error, "files": files, "notes": notes}


def _listen(address: str) -> socket.socket:
    """`fd:N`: a listening socket the host made and handed down; else a path to bind."""
    if address.startswith("fd:"):
        return socket.socket(fileno=int(address[3:]))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(address):
        os.unlink(address)
    server.bind(address + ".new")
    server.listen(8)
    # Renamed into place only once listening, so a host that sees the socket can connect.
    os.rename(address + ".new", address)
    return server


def main() -> None:
    os.chdir(DATA)
    server = _listen(sys.argv[1])
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                request = _receive(conn)
            except (EOFError, ValueError, OSError):
                continue
            try:
                reply = _cell(request, namespace)
            except Exception as error:  # the call's own setup failed: say so, keep serving
                reply = {"logs": f"The sandbox could not run this call: {error!r}",
                         "error": True, "files": [], "notes": []}
            # A host that gave up waiting (time limit) has closed its end.
            with contextlib.suppress(OSError):
                _send(conn, reply)


if __name__ == "__main__":
    main()
