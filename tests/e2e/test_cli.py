"""The operator's commands against the running platform: status, migrate, files upload."""
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import TREADLE, free_port

pytestmark = pytest.mark.usefixtures("workers")


def treadle(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TREADLE), *args], env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def stores(client: openai.OpenAI) -> Any:
    """`client.vector_stores` (openai 1.66+) or `client.beta.vector_stores` (up to 1.65)."""
    return getattr(client, "vector_stores", None) or client.beta.vector_stores


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    name = f"treadle_cli_{uuid.uuid4().hex[:12]}"
    maintenance = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(database_url, dbname=name)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def test_status_reports_a_healthy_platform(server_env: dict[str, str]) -> None:
    shown = treadle(server_env, "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = dict(line.split(None, 1) for line in shown.stdout.splitlines()
                 if line and not line.startswith(("ingest backlog", "runs ")))
    assert lines["postgres"] == lines["redis"] == lines["broker"] == "ok"
    assert lines["migrations"] == "all applied"
    assert "runs 0" in lines["queues"] and "ingest" in lines["queues"]
    for pool in ("runs@", "ingest@", "timers@"):
        assert pool in lines["workers"]
    assert "ingest backlog" in shown.stdout


def test_status_fails_when_redis_is_down(server_env: dict[str, str]) -> None:
    gone = f"redis://127.0.0.1:{free_port()}/0"
    shown = treadle({**server_env, "TREADLE_REDIS_URL": gone, "TREADLE_BROKER_URL": gone},
                    "status")
    assert shown.returncode == 1
    assert "postgres              ok" in shown.stdout
    assert "redis                 unreachable" in shown.stdout
    assert "broker                unreachable" in shown.stdout


def test_migrate_shows_progress_and_status_follows(server_env: dict[str, str],
                                                   empty_database: str) -> None:
    env = {**server_env, "TREADLE_DATABASE_URL": empty_database}
    before = treadle(env, "status")
    assert before.returncode == 1
    assert "migrations            pending: 0001_core" in before.stdout
    migrated = treadle(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "migrating" in migrated.stdout
    assert migrated.stdout.strip().splitlines()[-1].startswith("applied: 0001_core, 0002_runs")
    assert treadle(env, "migrate").stdout.strip() == "database is up to date"
    after = treadle(env, "status")
    assert "migrations            all applied" in after.stdout


def test_files_upload_ingests_a_directory(server_env: dict[str, str], stores: Any,
                                         client: openai.OpenAI, tmp_path: Path) -> None:
    store = stores.create(name="docs")
    folder = tmp_path / "docs"
    (folder / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("Rotterdam shipped pallets in March.")
    (folder / "b.md").write_text("# Garden\nTulips bloom in spring.")
    (folder / "deeper" / "c.json").write_text('{"owner": "Ilse"}')
    (folder / ".hidden").write_text("left out")

    done = treadle(server_env, "files", "upload", str(folder), "--vector-store", store.id,
                   "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"uploaded 3 file(s) to {store.id}" in done.stdout
    assert "completed 3" in done.stdout
    attached = stores.files.list(vector_store_id=store.id).data
    assert {f.status for f in attached} == {"completed"}
    names = {client.files.retrieve(f.id).filename for f in attached}
    assert names == {"a.txt", "b.md", "c.json"}
    # SDKs before 1.66 have no search method; the raw call works in every generation.
    found: dict[str, Any] = client.post(f"/vector_stores/{store.id}/search",
                                        body={"query": "tulips in spring"}, cast_to=object)
    assert found["data"][0]["filename"] == "b.md"


def test_files_upload_reports_refused_files(server_env: dict[str, str], stores: Any,
                                            tmp_path: Path) -> None:
    store = stores.create(name="mixed")
    (tmp_path / "good.txt").write_text("some text")
    (tmp_path / "empty.txt").write_bytes(b"")
    shown = treadle(server_env, "files", "upload", str(tmp_path), "--vector-store", store.id)
    assert shown.returncode == 1
    assert f"uploaded 1 file(s) to {store.id}" in shown.stdout
    assert "refused" in shown.stderr and "empty.txt" in shown.stderr
    assert len(stores.files.list(vector_store_id=store.id).data) == 1


def test_files_upload_needs_a_known_vector_store(server_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    shown = treadle(server_env, "files", "upload", str(tmp_path), "--vector-store", "vs_nope")
    assert shown.returncode == 1
    assert "No vector store found with id 'vs_nope'" in shown.stderr


def test_every_command_explains_itself(server_env: dict[str, str]) -> None:
    commands = [[], ["up"], ["api"], ["worker"], ["scheduler"], ["flower"], ["migrate"],
                ["keys"], ["keys", "create"], ["keys", "revoke"], ["status"], ["files"],
                ["files", "upload"]]
    for command in commands:
        shown = treadle(server_env, *command, "--help")
        assert shown.returncode == 0, command
        assert len(shown.stdout.split("\n\n")[1].split()) >= 3, (command, shown.stdout)
