"""Fixtures shared by every suite: a fresh database per test process and a real server.

Each pytest-xdist worker gets its own database and its own API server process, and every
test its own project, so tests never see each other's objects.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

BASE_DATABASE_URL = os.environ.get(
    "TREADLE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The API server always runs from the app's own environment, even when the tests run
# from a venv holding another generation of the openai SDK.
SERVER_PYTHON = Path(os.environ.get("TREADLE_TEST_SERVER_PYTHON", sys.executable))
TREADLE = SERVER_PYTHON.parent / "treadle"


def _maintenance_url() -> str:
    return make_conninfo(BASE_DATABASE_URL, dbname="postgres")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"treadle_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_maintenance_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(BASE_DATABASE_URL, dbname=name)
    # The tests' own calls into shared/ (keys, direct checks) use the same database.
    os.environ["TREADLE_DATABASE_URL"] = url
    from shared.config import get_settings

    get_settings.cache_clear()
    subprocess.run([str(TREADLE), "migrate"], check=True, env={**os.environ},
                   capture_output=True)
    yield url
    with psycopg.connect(_maintenance_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@contextmanager
def own_database(env: dict[str, str], project: str
                 ) -> Iterator[tuple[dict[str, str], str]]:
    """For tests that run processes of their own on a Redis of their own: a database of
    their own too (migrated, with a key of `project`), because timers requeue the runs of the
    database they watch on their own broker, which must never be the session's."""
    name = f"treadle_own_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_maintenance_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    own = {**env, "TREADLE_DATABASE_URL": make_conninfo(BASE_DATABASE_URL, dbname=name)}
    try:
        subprocess.run([str(TREADLE), "migrate"], env=own, check=True, capture_output=True)
        made = subprocess.run([str(TREADLE), "keys", "create", "--project", project], env=own,
                              check=True, capture_output=True, text=True)
        yield own, made.stdout.split()[-1]
    finally:
        with psycopg.connect(_maintenance_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy")


BASE_REDIS_URL = os.environ.get("TREADLE_REDIS_URL", "redis://127.0.0.1:6379/0")
# Short enough for the expiry test to wait out, long enough for every other test's run.
RUN_EXPIRY_SECONDS = 8


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> str:
    """A Redis database of this test process's own (1..15), emptied first."""
    import redis

    index = 1 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0) % 15
    url = BASE_REDIS_URL.rsplit("/", 1)[0] + f"/{index}"
    redis.Redis.from_url(url).flushdb()
    os.environ["TREADLE_REDIS_URL"] = url
    from shared.config import get_settings

    get_settings.cache_clear()
    return url


@pytest.fixture(scope="session")
def model_server() -> Iterator[Any]:
    from tests.support.model_server import ModelServer

    server = ModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_env(database_url: str, redis_url: str, model_server: Any,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "TREADLE_DATABASE_URL": database_url, "TREADLE_REDIS_URL": redis_url,
            "TREADLE_MODEL_BASE_URL": model_server.url, "TREADLE_MODEL_MAX_RETRIES": "2",
            "TREADLE_EMBEDDINGS_BASE_URL": model_server.url,
            "TREADLE_RUN_EXPIRY_SECONDS": str(RUN_EXPIRY_SECONDS),
            "TREADLE_RUN_LEASE_SECONDS": "5", "TREADLE_KEY_CACHE_SECONDS": "0.5",
            "TREADLE_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "TREADLE_API_WORKERS": "1", "TREADLE_MAX_FILE_BYTES": str(4 * 1024 * 1024),
            # Each test process runs a dozen servers and workers against one Postgres (100
            # connections): small pools keep their sum under it; runs wait for a connection.
            "TREADLE_DB_POOL_MAX": "8"}


def start_process(args: list[str], env: dict[str, str], log_path: Path
                  ) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen([str(TREADLE), *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_for_line(log_path: Path, needle: str, process: subprocess.Popen[bytes],
                  seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log_path.name} exited: {log_path.read_text()[-2000:]}")
        if needle in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{log_path.name} never said {needle!r}")


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def workers(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Path]]:
    """Real worker processes of every pool and the timer scheduler; their log paths."""
    folder = tmp_path_factory.mktemp("workers")
    names = ("ingest", "runs", "timers", "sandbox", "scheduler")
    logs = {name: folder / f"{name}.log" for name in names}
    processes = [
        start_process(["worker", "--pool", "ingest"], server_env, logs["ingest"]),
        start_process(["worker", "--pool", "runs", "--concurrency", "8"], server_env,
                      logs["runs"]),
        start_process(["worker", "--pool", "timers"], server_env, logs["timers"]),
        start_process(["worker", "--pool", "sandbox"], server_env, logs["sandbox"]),
        start_process(["scheduler"], server_env, logs["scheduler"]),
    ]
    try:
        for name, process in zip(names[:4], processes, strict=False):
            wait_for_line(logs[name], "ready.", process)
        yield logs
    finally:
        stop_processes(processes)
        end_sandbox_sessions(server_env)


def end_sandbox_sessions(env: dict[str, str]) -> None:
    """Sandbox sessions outlive their worker on purpose (the next worker reaches them);
    a test session's end with it. Nothing to end when no sandbox can run here."""
    subprocess.run([str(SERVER_PYTHON), "-c",
                    "from sandbox.sessions import get_sessions; get_sessions().reap()"],
                   env={**env, "TREADLE_SANDBOX_IDLE_SECONDS": "-1"}, check=False,
                   capture_output=True, timeout=120)


@contextmanager
def serving_api(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A `treadle api` process on a free port, healthy; its root URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(TREADLE), "api", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(base, process)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def api_base(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[str]:
    """The root URL of the session's `treadle api` process."""
    with serving_api(server_env, tmp_path_factory.mktemp("server") / "api.log") as base:
        yield base


@pytest.fixture
def api_key(database_url: str) -> str:
    """A key for a project of this test's own."""
    from shared.projects.api_keys import create_key

    return create_key(f"test-{uuid.uuid4().hex}")
