"""`treadle up` with no service URLs: embedded PostgreSQL and Redis under the data directory.

Nothing here uses the machine's Postgres or Redis: every TREADLE_* variable naming a
service is removed, so the platform must serve itself and keep its objects across restarts.
"""
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import TREADLE
from tests.support.platform import Up, bare_env, data_dir, remove


@pytest.fixture
def env(model_server: Any) -> Iterator[dict[str, str]]:
    folder = data_dir()
    yield bare_env(folder, model_server.url)
    remove(folder)


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            up.process.kill()


def test_up_serves_itself_and_keeps_objects_across_restarts(
        env: dict[str, str], tmp_path: Path, ups: list[Up]) -> None:
    data = Path(env["TREADLE_DATA_DIR"])
    first = Up(env, tmp_path / "up-1.log")
    ups.append(first)
    key = first.key()
    client = openai.OpenAI(base_url=f"{first.base}/v1", api_key=key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model", name="kept")
    uploaded = client.files.create(file=("notes.txt", b"kept bytes"), purpose="assistants")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hello"}]})
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0]

    status = first.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "migrations            all applied" in status.stdout
    assert "completed 1" in status.stdout
    # Beside a running platform, the command uses its services and leaves them up.
    assert first.cli("migrate").stdout.strip() == "database is up to date"
    assert client.beta.assistants.retrieve(assistant.id).name == "kept"

    assert first.stop() == 0
    assert not first.leftovers()
    assert not (data / "postgres" / "postmaster.pid").exists()
    assert not (data / "redis" / "redis.sock").exists()

    # Alone, `treadle migrate` starts the embedded database for itself and stops it after.
    alone = subprocess.run([str(TREADLE), "migrate"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert alone.stdout.strip() == "database is up to date", alone.stderr
    assert not (data / "postgres" / "postmaster.pid").exists()

    second = Up(env, tmp_path / "up-2.log")
    ups.append(second)
    assert "First start" not in second.log.read_text()
    client = openai.OpenAI(base_url=f"{second.base}/v1", api_key=key, max_retries=0)
    assert client.beta.assistants.retrieve(assistant.id).name == "kept"
    assert client.files.content(uploaded.id).read() == b"kept bytes"
    kept = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data
    assert [m.content[0].text.value for m in kept] == [reply.content[0].text.value]
    assert second.stop() == 0
