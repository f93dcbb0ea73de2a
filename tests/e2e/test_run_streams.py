"""Event streams that outlast a slow model, and many listeners on one API process."""
import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import (
    RUN_EXPIRY_SECONDS,
    free_port,
    own_database,
    start_process,
    stop_processes,
    wait_until_healthy,
)
from tests.support.servers import RedisServer

# Past the 5 s that a Redis read timeout used to cut streams at.
SLOW_FIRST_TOKEN_MS = 7_000
LISTENERS = 300
LISTENED_RUNS = 10


def script(**plan: Any) -> str:
    return f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(plan)


@pytest.fixture
def assistant(client: openai.OpenAI) -> Any:
    return client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])


@pytest.mark.usefixtures("workers")
def test_a_stream_waits_out_a_slow_first_token(client: openai.OpenAI, assistant: Any) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=20, delay_ms=SLOW_FIRST_TOKEN_MS)}])
    with client.beta.threads.runs.stream(thread_id=thread.id,
                                         assistant_id=assistant.id) as stream:
        text = "".join(stream.text_deltas)
        final = stream.get_final_run()
    assert text == " ".join(f"tok{i}" for i in range(20))
    assert final.status == "completed"


@pytest.mark.usefixtures("workers")
def test_the_events_of_a_parked_run_stay_open_with_keep_alives(
        client: openai.OpenAI, assistant: Any, api_base: str, api_key: str) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action"
    opened = time.monotonic()
    lines: list[tuple[float, str]] = []
    # Read until the server ends the stream: when the parked run expires.
    with httpx.stream("GET", f"{api_base}/v1/threads/{thread.id}/runs/{run.id}/events",
                      headers={"Authorization": f"Bearer {api_key}"},
                      timeout=RUN_EXPIRY_SECONDS + 20) as response:
        assert response.status_code == 200
        lines.extend((time.monotonic() - opened, line) for line in response.iter_lines())
    ended = time.time()
    keep_alives = [at for at, line in lines if line == ": keep-alive"]
    names = [line.removeprefix("event: ") for _, line in lines if line.startswith("event: ")]
    assert keep_alives, "a quiet stream got no keep-alive"
    # Open until the run expired, however long parking it took (`created_at` is whole seconds).
    assert ended >= run.created_at + RUN_EXPIRY_SECONDS - 1
    assert names[-2:] == ["thread.run.expired", "done"]
    assert "thread.run.requires_action" in names


@pytest.fixture
def own_api(server_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """An API process alone on a Redis of its own (no workers: runs stay queued); its URL,
    a key, and that Redis."""
    server = RedisServer(tmp_path, tcp=True)
    server.start()
    env = {**server_env, "TREADLE_REDIS_URL": server.url, "TREADLE_BROKER_URL": server.url,
           "TREADLE_API_WORKERS": "1", "TREADLE_DATA_DIR": str(tmp_path / "data")}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with own_database(env, "streams") as (env, key):
            port = free_port()
            processes.append(start_process(["api", "--port", str(port)], env,
                                           tmp_path / "api.log"))
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_healthy(base, processes[0])
                yield base, key, server.client()
            finally:
                # Before its database goes.
                stop_processes(processes)
    finally:
        server.stop()


@pytest.mark.xdist_group("machine")  # 300 streams at once (Makefile)
def test_many_listeners_share_one_relay(own_api: tuple[str, str, Any]) -> None:
    base, key, redis = own_api
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    runs = [client.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]})
        for _ in range(LISTENED_RUNS)]

    async def scenario() -> list[list[str]]:
        open_listeners = 0
        all_open = asyncio.Event()
        limits = httpx.Limits(max_connections=LISTENERS + 10)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30,
                                     headers={"Authorization": f"Bearer {key}"}) as http:

            async def listen(run: Any) -> list[str]:
                names: list[str] = []
                url = f"/v1/threads/{run.thread_id}/runs/{run.id}/events"
                nonlocal open_listeners
                async with http.stream("GET", url) as response:
                    assert response.status_code == 200, (await response.aread()).decode()
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            names.append(line.removeprefix("event: "))
                            if names[-1] == "thread.run.queued":
                                open_listeners += 1
                                if open_listeners == LISTENERS:
                                    all_open.set()
                return names

            listening = [asyncio.create_task(listen(runs[i % LISTENED_RUNS]))
                         for i in range(LISTENERS)]
            # All 300 open together: about 15 s alone, tens of seconds on a slow machine
            # beside other tests. A listener that fails says why at once.
            opened = asyncio.create_task(all_open.wait())
            done, _ = await asyncio.wait([opened, *listening], timeout=90,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done - {opened}:
                task.result()
            assert opened in done, f"{open_listeners} of {LISTENERS} listeners open after 90 s"
            # Every listener is open and waiting; the API still answers and holds a few
            # Redis connections, not one per listener.
            created = await http.post("/v1/threads/runs", json={
                "assistant_id": assistant.id,
                "thread": {"messages": [{"role": "user", "content": "hi"}]}})
            assert created.status_code == 200, created.text
            others = [c for c in await asyncio.to_thread(redis.client_list)
                      if c["name"] != "listeners-test"]
            assert len(others) <= 15, [c["addr"] for c in others]
            for run in runs:
                cancelled = await http.post(
                    f"/v1/threads/{run.thread_id}/runs/{run.id}/cancel")
                assert cancelled.status_code == 200, cancelled.text
            return list(await asyncio.wait_for(asyncio.gather(*listening), timeout=30))

    redis.client_setname("listeners-test")
    for names in asyncio.run(scenario()):
        assert names[:3] == ["thread.created", "thread.run.created", "thread.run.queued"]
        assert names[-2:] == ["thread.run.cancelled", "done"]
