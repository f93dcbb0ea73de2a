"""Hundreds of runs in flight in ONE runs worker process (gevent, its default concurrency),
against a model whose first token comes after seconds, as real models' do.

The runs are created before the worker starts, so it takes them all from the queue at once
(prefetch 1 x concurrency): the model server's own count of requests open at once proves
how many were in flight together (the first test's calls gather: none is answered before
all are open, however slowly a loaded machine starts them). What is asserted of each run is
read from Postgres.
"""
import json
import os
import re
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import redis

from tests.conftest import TREADLE
from tests.e2e.test_recovery import script
from tests.support.stack import Stack, connect, kill_mid_stream, stack, wait_all_ended
from tests.support.waiting import wait_for

__all__ = ["stack"]

# Hundreds of runs at once: never beside another such test (Makefile).
pytestmark = pytest.mark.xdist_group("machine")

# How the model answers: its first token after FIRST_TOKEN_MS, then TOKENS tokens.
FIRST_TOKEN_MS = 3000
TOKENS = 20


def create_runs(client: openai.OpenAI, assistant_id: str, texts: list[str]) -> list[Any]:
    """A thread and run per text, created by 16 clients at once."""
    def create(text: str) -> Any:
        return client.beta.threads.create_and_run(
            assistant_id=assistant_id, thread={"messages": [{"role": "user", "content": text}]})

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(create, texts))


def answered_once(outcome: dict[str, Any]) -> bool:
    """Completed with one whole answer in one message and one step: nothing twice."""
    return (outcome["status"] == "completed"
            and outcome["messages"] == [("completed", " ".join(
                f"tok{i}" for i in range(TOKENS)))]
            and outcome["steps"] == [("message_creation", "completed")])


def api_client(stack: Stack, expiry_seconds: int = 300) -> openai.OpenAI:
    """A client of a new API of the stack, whose runs expire `expiry_seconds` after their
    creation (by default none while hundreds wait for the model)."""
    stack.env["TREADLE_RUN_EXPIRY_SECONDS"] = str(expiry_seconds)
    return openai.OpenAI(base_url=f"{stack.api()}/v1", api_key=stack.key, max_retries=3)


def queued_runs(stack: Stack, count: int, **plan: Any) -> tuple[openai.OpenAI, list[str]]:
    """An API of the stack and `count` runs created and left queued (no runs worker yet)."""
    client = api_client(stack)
    assistant = client.beta.assistants.create(model="test-model")
    runs = create_runs(client, assistant.id, [
        script(delay_ms=FIRST_TOKEN_MS, tokens=TOKENS, **plan) for _ in range(count)])
    return client, [run.id for run in runs]


def status_output(stack: Stack) -> str:
    return subprocess.run([str(TREADLE), "status"], env=stack.env, capture_output=True,
                          text=True, timeout=60).stdout


def gauge(base: str, name: str, process: str) -> float | None:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf'^{name}{{process="{re.escape(process)}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


def test_hundreds_of_runs_in_flight_in_one_process(stack: Stack, model_server: Any) -> None:
    count = 300
    client, run_ids = queued_runs(stack, count, gather=count)
    model_server.clear()
    stack.wide_runs_worker("runs-wide")
    process = f"runs-wide@{os.uname().nodename}"
    base = str(client.base_url).removesuffix("/v1/")

    # Every run waits on the model at once, taken off the queue by the one process.
    wait_for(lambda: model_server.concurrency()["open"] == count, 60,
             f"the model never had {count} requests open at once")
    # Nothing waits in the queue: the model has every run's call open, so a task still queued
    # can only be a second one for a run this process holds, which the timers send for a run
    # that waited in the backlog longer than two lease periods (a slow machine's creation).
    queued = redis.Redis.from_url(stack.env["TREADLE_REDIS_URL"]).lrange("runs", 0, -1)
    assert {json.loads(item)["headers"]["argsrepr"].strip("[]'") for item in queued} <= set(
        run_ids)
    assert gauge(base, "treadle_runs_capacity", process) == 2000
    wait_for(lambda: gauge(base, "treadle_runs_in_flight", process) == count, 10,
             "/metrics never showed the runs in flight")
    status = status_output(stack)
    assert f"runs in flight        {process} {count}/2000" in status, status

    found = wait_all_ended(stack, run_ids)
    assert model_server.concurrency()["peak"] == count
    assert sorted(found) == sorted(run_ids)
    assert [r for r in found.values() if not answered_once(r)] == []
    assert len(model_server.requests("/v1/chat/completions")) == count


def test_a_worker_killed_with_hundreds_in_flight_loses_and_repeats_nothing(
        stack: Stack, model_server: Any) -> None:
    count = 200
    # Each answer streams for TOKENS x 150 ms after the first token: long enough to be cut.
    # Held until all are open at once, so they stream together however slowly the worker
    # started them (the heir's calls come after that peak and are not held).
    _, run_ids = queued_runs(stack, count, chunk_delay_ms=150, gather=count)
    model_server.clear()
    victim = stack.wide_runs_worker("runs-victim")

    # Killed mid-stream: most runs have shown part of their answer.
    kill_mid_stream(stack, victim, run_ids, 30)

    found = wait_all_ended(stack, run_ids)
    assert sorted(found) == sorted(run_ids)
    assert [r for r in found.values() if not answered_once(r)] == []
    # Each run's model call was made again at most once, where the crash cut the run (a call
    # the model had answered in full but the killed worker had not ended its run with counts
    # as cut: the run had not ended, so its heir asks again).
    calls: dict[str, list[bool]] = {}
    for request in model_server.requests("/v1/chat/completions"):
        marker = re.search(r"[0-9a-f]{32}(?=\\nSCRIPT)", json.dumps(request["body"]))
        assert marker is not None
        calls.setdefault(marker.group(0), []).append(request["completed"])
    assert len(calls) == count
    assert all(made[-1] and len(made) <= 2 for made in calls.values())
    # The runs cut mid-stream (most of them) each made their call again, once.
    assert sum(len(made) == 2 for made in calls.values()) >= count * 0.9


def test_cancel_and_expiry_stay_exact_under_load(stack: Stack, model_server: Any) -> None:
    count = 200
    # Answers stream for TOKENS x 400 ms: a cancel sent once a run streams lands before its
    # end even where five cancels take seconds.
    client, run_ids = queued_runs(stack, count, chunk_delay_ms=400)
    # A few runs park for a function's output, and expire there; the run's expiry comes
    # from its creation, after the others are done.
    expiring = api_client(stack, expiry_seconds=12)
    assistant = expiring.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    parked = [run.id for run in create_runs(expiring, assistant.id, [
        script(delay_ms=FIRST_TOKEN_MS, tool_calls=[{"name": "f", "arguments": {}}])
        for _ in range(3)])]
    threads = {run_id: thread_id for run_id, thread_id in _threads(stack, run_ids)}
    stack.wide_runs_worker("runs-busy")

    doomed = run_ids[:5]
    with connect(stack) as conn:
        wait_for(lambda: int(conn.execute(
            "SELECT count(*) AS n FROM messages WHERE run_id = ANY(%s)"
            " AND status = 'in_progress'", [doomed]).fetchone()["n"]) == len(doomed), 30,
            "the runs to cancel never started streaming")
    for run_id in doomed:
        client.beta.threads.runs.cancel(run_id, thread_id=threads[run_id])

    found = wait_all_ended(stack, run_ids + parked)
    for run_id in doomed:
        cancelled = found[run_id]
        assert cancelled["status"] == "cancelled"
        [(status, text)] = cancelled["messages"]
        assert status == "incomplete" and not text.endswith(f"tok{TOKENS - 1}")
        assert cancelled["steps"] == [("message_creation", "cancelled")]
    for run_id in parked:
        assert found[run_id]["status"] == "expired"
        assert found[run_id]["steps"] == [("tool_calls", "expired")]
    rest = [found[run_id] for run_id in run_ids[len(doomed):]]
    assert [r for r in rest if not answered_once(r)] == []


def _threads(stack: Stack, run_ids: list[str]) -> list[tuple[str, str]]:
    with connect(stack) as conn:
        rows = conn.execute("SELECT id, thread_id FROM runs WHERE id = ANY(%s)",
                            [run_ids]).fetchall()
    return [(r["id"], r["thread_id"]) for r in rows]
