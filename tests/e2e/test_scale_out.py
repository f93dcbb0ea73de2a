"""Scale-out: two API replicas and two runs workers on one broker.

Runs created through one replica are executed by both workers, and a run's events are read
through the other replica. The stack is this file's own (its own Redis database, so the
session's workers never take its runs).
"""
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from tests.conftest import (
    free_port,
    own_database,
    start_process,
    stop_processes,
    wait_for_line,
    wait_until_healthy,
)
from tests.e2e.events import read_events

RUNS = 8
# Each worker reaches the model server under a name of its own, so the Host header of
# every model request tells which worker made it.
WORKER_HOSTS = {"runs-a": "127.0.0.1", "runs-b": "localhost"}


@dataclass
class ScaledStack:
    key: str
    apis: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


@pytest.fixture
def scaled(server_env: dict[str, str], model_server: Any, worker_id: str,
           tmp_path: Path) -> Iterator[ScaledStack]:
    index = 8 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0) % 8
    redis_url = server_env["TREADLE_REDIS_URL"].rsplit("/", 1)[0] + f"/{index}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {**server_env, "TREADLE_REDIS_URL": redis_url, "TREADLE_DATA_DIR": str(tmp_path)}
    with own_database(env, "scaled") as (env, key):
        yield from _started(env, key, model_server, tmp_path)


def _started(env: dict[str, str], key: str, model_server: Any, tmp_path: Path
             ) -> Iterator[ScaledStack]:
    stack = ScaledStack(key)
    try:
        workers = []
        for name, host in WORKER_HOSTS.items():
            worker_env = {**env,
                          "TREADLE_MODEL_BASE_URL": f"http://{host}:{model_server.port}/v1"}
            log = tmp_path / f"{name}.log"
            process = start_process(["worker", "--pool", "runs", "--name", name,
                                     "--concurrency", "2"], worker_env, log)
            stack.processes.append(process)
            workers.append((log, process))
        for _ in range(2):
            port = free_port()
            process = start_process(["api", "--port", str(port)], env,
                                    tmp_path / f"api-{port}.log")
            stack.processes.append(process)
            stack.apis.append(f"http://127.0.0.1:{port}")
            wait_until_healthy(stack.apis[-1], process)
        for log, process in workers:
            wait_for_line(log, "ready.", process)
        yield stack
    finally:
        stop_processes(stack.processes)


def wait_done(client: openai.OpenAI, runs: dict[str, str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    pending = dict(runs)
    while pending:
        assert time.monotonic() < deadline, f"runs still going: {sorted(pending)}"
        for run_id, thread_id in list(pending.items()):
            run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            if run.status not in ("queued", "in_progress"):
                assert run.status == "completed", run.last_error
                del pending[run_id]
        time.sleep(0.1)


def test_runs_spread_across_workers_and_events_read_through_the_other_replica(
        scaled: ScaledStack, model_server: Any) -> None:
    replica_a, replica_b = scaled.apis
    client_a = openai.OpenAI(base_url=f"{replica_a}/v1", api_key=scaled.key, max_retries=0)
    client_b = openai.OpenAI(base_url=f"{replica_b}/v1", api_key=scaled.key, max_retries=0)
    assistant = client_a.beta.assistants.create(model="test-model")
    markers: dict[str, str] = {}
    runs: dict[str, str] = {}
    for number in range(RUNS):
        # Slow enough answers that neither worker (two runs at a time) can take them all.
        marker = uuid.uuid4().hex
        text = f"{marker}\nSCRIPT: " + json.dumps({"text": f"answer {number}",
                                                    "delay_ms": 300})
        thread = client_a.beta.threads.create(messages=[{"role": "user", "content": text}])
        run = client_a.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
        markers[run.id] = marker
        runs[run.id] = thread.id
    wait_done(client_b, runs)

    requests = model_server.requests("/v1/chat/completions")
    executed_by: dict[str, set[str]] = {}
    for run_id, marker in markers.items():
        hosts = {r["headers"]["host"].rsplit(":", 1)[0] for r in requests
                 if marker in json.dumps(r["body"])}
        assert len(hosts) == 1, hosts
        worker = next(n for n, h in WORKER_HOSTS.items() if h in hosts)
        executed_by.setdefault(worker, set()).add(run_id)
    assert set(executed_by) == set(WORKER_HOSTS), executed_by

    # Any run's events, read through the replica that did not create it.
    run_id = next(iter(executed_by["runs-b"]))
    events = read_events(replica_b, scaled.key, runs[run_id], run_id)
    names = [e["event"] for e in events]
    assert names[0] == "thread.run.created"
    assert "thread.message.delta" in names
    assert names[-2:] == ["thread.run.completed", "done"]
    reply = client_b.beta.threads.messages.list(runs[run_id], run_id=run_id).data[0]
    number = list(markers).index(run_id)
    assert reply.content[0].text.value == f"answer {number}"
