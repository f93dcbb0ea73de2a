"""`treadle up` with no service URLs: embedded PostgreSQL and Redis under the data directory.

Nothing here uses the machine's Postgres or Redis: every TREADLE_* variable naming a
service is removed, so the platform must serve itself and keep its objects across restarts.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import TREADLE, free_port, wait_until_healthy

SERVICE_VARIABLES = ("TREADLE_DATABASE_URL", "TREADLE_REDIS_URL", "TREADLE_BROKER_URL",
                     "TREADLE_QDRANT_URL")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as another user, who
    must traverse every parent, and pytest keeps resetting its own root to mode 0700."""
    folder = Path(tempfile.mkdtemp(prefix="treadle-embedded-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def bare_env(data_dir: Path, model_server: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update({"TREADLE_DATA_DIR": str(data_dir / "data"), "TREADLE_API_PORT": str(free_port()),
                "TREADLE_API_WORKERS": "1", "TREADLE_MODEL_BASE_URL": model_server.url,
                "TREADLE_EMBEDDINGS_BASE_URL": model_server.url, "TREADLE_LOG_FORMAT": "text"})
    return env


class Up:
    """One `treadle up` process and what it printed."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.base = f"http://127.0.0.1:{env['TREADLE_API_PORT']}"
        with open(log, "wb") as out:
            self.process = subprocess.Popen([str(TREADLE), "up"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT)
        # Migrations, a first key and five processes: slower than one API alone.
        wait_until_healthy(self.base, self.process, seconds=90)
        deadline = time.monotonic() + 90
        while not re.search(r"\bruns(-\d+)?@", self.cli("status").stdout):
            assert time.monotonic() < deadline, "the runs pool never answered a ping"
            time.sleep(0.5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TREADLE), *args], env=self.env, capture_output=True,
                              text=True, timeout=120)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            up.process.kill()


def test_up_serves_itself_and_keeps_objects_across_restarts(
        bare_env: dict[str, str], tmp_path: Path, ups: list[Up]) -> None:
    data = Path(bare_env["TREADLE_DATA_DIR"])
    first = Up(bare_env, tmp_path / "up-1.log")
    ups.append(first)
    printed = first.log.read_text()
    key = re.search(r"sk-treadle-\S+", printed)
    assert key is not None, printed
    client = openai.OpenAI(base_url=f"{first.base}/v1", api_key=key.group(0), max_retries=0)
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

    first.stop()
    assert not (data / "postgres" / "postmaster.pid").exists()
    assert not (data / "redis" / "redis.sock").exists()

    # Alone, `treadle migrate` starts the embedded database for itself and stops it after.
    alone = subprocess.run([str(TREADLE), "migrate"], env=bare_env, capture_output=True,
                           text=True, timeout=120)
    assert alone.stdout.strip() == "database is up to date", alone.stderr
    assert not (data / "postgres" / "postmaster.pid").exists()

    second = Up(bare_env, tmp_path / "up-2.log")
    ups.append(second)
    assert "First start" not in second.log.read_text()
    client = openai.OpenAI(base_url=f"{second.base}/v1", api_key=key.group(0), max_retries=0)
    assert client.beta.assistants.retrieve(assistant.id).name == "kept"
    assert client.files.content(uploaded.id).read() == b"kept bytes"
    kept = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data
    assert [m.content[0].text.value for m in kept] == [reply.content[0].text.value]
    second.stop()
