"""One stateful session per thread, like a notebook kernel, on whichever backend runs here.

A session is found by its thread alone: its directory under `data_dir/sandbox/` holds the
kernel's socket, a lock that serialises the thread's calls across worker processes, and
`meta.json` (when it started, when last used, which input files it already holds). So any
sandbox worker on the host reaches the session, and a dead or reaped one is started again
on the next call. Code that runs past the time limit, or kills the kernel, loses the
session's state; the call's output says so.
"""
import base64
import fcntl
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sandbox.backend import SANDBOX_UID, Backend, Limits, Place, scope_of
from sandbox.bwrap_backend import BwrapBackend
from sandbox.channel import KernelGoneError, connect, exchange
from sandbox.docker_backend import DockerBackend
from shared.config import Settings, get_settings
from shared.errors import InvalidRequestError, ServiceUnavailableError

_THREAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_POLL_SECONDS = 0.002
STATE_LOST = "the session was restarted, so variables and files from earlier calls are gone."


@dataclass(frozen=True)
class InputFile:
    name: str
    data: bytes
    # A stable identity (a file id): a session holding it already is not sent it again.
    key: str | None = None


@dataclass(frozen=True)
class OutputFile:
    # The path under /mnt/data; for a figure only drawn, not saved, a made-up name.
    name: str
    data: bytes
    is_image: bool
    figure: bool = False


@dataclass(frozen=True)
class CellResult:
    logs: str
    error: bool
    files: list[OutputFile]


class Sessions:
    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.scope = scope_of(settings.data_dir)
        self.root = settings.data_dir.resolve() / "sandbox"

    def place(self, thread_id: str) -> Place:
        if not _THREAD_ID.match(thread_id):
            raise InvalidRequestError("Invalid thread id.", param="thread_id")
        return Place(name=f"treadle-{self.scope}-{thread_id}", root=self.root / thread_id)

    def run_cell(self, thread_id: str, code: str,
                files: Sequence[InputFile] = ()) -> CellResult:
        place = self.place(thread_id)
        with _locked(place) as meta:
            conn = self._connect(place, meta)
            try:
                sent = [f for f in files if f.key is None or meta["placed"].get(f.key) != f.name]
                conn.settimeout(self.settings.sandbox_time_limit_seconds)
                reply = exchange(conn, {
                    "code": code,
                    "files": [{"name": f.name, "data": base64.b64encode(f.data).decode()}
                              for f in sent],
                    "output_limit": self.settings.sandbox_output_limit_chars,
                    "files_limit": self.settings.sandbox_files_limit_bytes,
                })
            except TimeoutError:
                return self._lost(place, meta, "Execution timed out after "
                                  f"{self.settings.sandbox_time_limit_seconds:g} seconds;")
            except KernelGoneError:
                return self._lost(place, meta, "The code ended the sandbox's process (most "
                                  "often by using more than the memory limit of "
                                  f"{self.limits.memory_mb} MiB);")
            finally:
                conn.close()
            meta["placed"].update({f.key: f.name for f in sent if f.key is not None})
            meta["last_used"] = time.time()
        logs = "\n".join([reply["logs"], *reply["notes"]]) if reply["notes"] else reply["logs"]
        return CellResult(logs=logs, error=reply["error"], files=[
            OutputFile(name=f["name"], data=base64.b64decode(f["data"]), is_image=f["is_image"],
                       figure=f.get("figure", False))
            for f in reply["files"]])

    def _lost(self, place: Place, meta: dict[str, Any], reason: str) -> CellResult:
        self.backend.stop(place)
        meta.clear()
        return CellResult(logs=f"{reason} {STATE_LOST}", error=True, files=[])

    def _connect(self, place: Place, meta: dict[str, Any]) -> socket.socket:
        """The live session's connection, starting a session when none answers."""
        if meta and time.time() - meta["started_at"] > self.settings.sandbox_max_age_seconds:
            self.backend.stop(place)
            meta.clear()
        if meta:
            try:
                return connect(place.socket, None)
            except OSError:
                self.backend.stop(place)
                meta.clear()
        return self._start(place, meta)

    def _start(self, place: Place, meta: dict[str, Any]) -> socket.socket:
        self.backend.stop(place)
        shutil.rmtree(place.run_dir, ignore_errors=True)
        place.run_dir.mkdir(mode=0o700)
        shutil.chown(place.run_dir, SANDBOX_UID, SANDBOX_UID)
        started = time.time()
        self.backend.start(place, self.limits)
        deadline = time.monotonic() + self.settings.sandbox_start_timeout_seconds
        while time.monotonic() < deadline:
            try:
                conn = connect(place.socket, None)
            except OSError:
                time.sleep(_POLL_SECONDS)
                continue
            meta.update(started_at=started, last_used=started, placed={})
            return conn
        self.backend.stop(place)
        raise ServiceUnavailableError("The code sandbox did not start; retry soon.")

    def reap(self) -> list[str]:
        """End sessions idle or older than the settings allow (their directories go too),
        and sessions the engine holds that no directory accounts for; returns the threads
        whose sessions ended."""
        reaped = []
        now = time.time()
        known = set()
        for folder in self.root.iterdir() if self.root.exists() else ():
            place = self.place(folder.name)
            known.add(place.name)
            with _locked(place, wait=False) as meta:
                if meta is None:
                    continue
                if meta and (
                        now - meta["last_used"] > self.settings.sandbox_idle_seconds
                        or now - meta["started_at"] > self.settings.sandbox_max_age_seconds):
                    self.backend.stop(place)
                    meta.clear()
                    reaped.append(folder.name)
                if not meta:
                    shutil.rmtree(place.root, ignore_errors=True)
        prefix = f"treadle-{self.scope}-"
        for name in self.backend.running() - known:
            if name.startswith(prefix):
                thread_id = name.removeprefix(prefix)
                self.backend.stop(Place(name=name, root=self.root / thread_id))
                reaped.append(thread_id)
        return reaped


def meta_path(place: Place) -> Path:
    return place.root / "meta.json"


@contextmanager
def _locked(place: Place, wait: bool = True) -> Iterator[Any]:
    """Hold the thread's lock and its metadata; what the caller leaves in the dict is
    saved (an emptied dict removes the file). Yields None when `wait` is off and the
    session is busy."""
    lock_path = place.root / "lock"
    while True:
        place.root.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            # The reaper may have removed the directory while this waited: lock anew.
            try:
                if os.stat(lock_path).st_ino != os.fstat(lock.fileno()).st_ino:
                    continue
            except FileNotFoundError:
                continue
            path = meta_path(place)
            try:
                meta: dict[str, Any] = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                meta = {}
            try:
                yield meta
            finally:
                if meta:
                    path.write_text(json.dumps(meta))
                else:
                    path.unlink(missing_ok=True)
            return


def make_backend(settings: Settings) -> Backend:
    """The backend TREADLE_SANDBOX asks for; `auto` prefers Docker when it can run here."""
    scope = scope_of(settings.data_dir)
    candidates: list[DockerBackend | BwrapBackend] = []
    if settings.sandbox in ("docker", "auto"):
        candidates.append(DockerBackend(settings.sandbox_docker_host, settings.sandbox_image,
                                        scope))
    if settings.sandbox in ("bwrap", "auto"):
        candidates.append(BwrapBackend(settings.sandbox_rootfs, scope))
    reasons = []
    for backend in candidates:
        reason = backend.available()
        if reason is None:
            return backend
        reasons.append(reason)
    raise ServiceUnavailableError("No code sandbox can run here: " + "; ".join(reasons))


@lru_cache(maxsize=1)
def get_sessions() -> Sessions:
    settings = get_settings()
    return Sessions(make_backend(settings), settings)
