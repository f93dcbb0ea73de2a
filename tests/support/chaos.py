"""Faults done for real to a `treadle up` platform, and what became of the runs in flight.

Shared by the chaos suite (tests/chaos), which asserts on the outcomes, and
`bench/chaos.py`, which prints them.
"""
from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openai

from tests.support.platform import Up

# Every kind of process `treadle up` supervises; runs-1 stands for the runs pool.
KINDS = ("runs-1", "ingest", "sandbox", "timers", "scheduler", "api", "redis", "postgres")
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


@dataclass(frozen=True)
class Started:
    thread_id: str
    run_id: str
    expected: str


@dataclass
class Outcome:
    """One trial: how long the platform took to serve again and how its runs ended."""

    fault: str
    recovered_seconds: float = 0.0
    runs: int = 0
    completed: int = 0
    # Ended in another status (failed, expired, ...): each with its status and error.
    failed: list[str] = field(default_factory=list)
    # Not terminal when the trial gave up waiting.
    stuck: int = 0
    # Completed with more or other assistant text than the model answered once.
    duplicated: int = 0

    @property
    def clean(self) -> bool:
        return self.completed == self.runs and not (self.failed or self.stuck or self.duplicated)


def client(up: Up, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{up.base}/v1", api_key=key, max_retries=0, timeout=30)


def script(tokens: int, chunk_delay_ms: int, delay_ms: int = 0) -> tuple[str, str]:
    """A user message making the test model stream `tokens` tokens slowly, and that text."""
    plan = {"tokens": tokens, "chunk_delay_ms": chunk_delay_ms, "delay_ms": delay_ms}
    return f"SCRIPT: {json.dumps(plan)}", " ".join(f"tok{i}" for i in range(tokens))


def _retrying(call: Callable[[], object], seconds: float) -> object:
    """The call, tried again while the platform is coming back (connection errors, 5xx)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except (openai.APIConnectionError, openai.InternalServerError, openai.APIStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_runs(api: openai.OpenAI, assistant_id: str, count: int, tokens: int = 20,
               chunk_delay_ms: int = 100) -> list[Started]:
    message, expected = script(tokens, chunk_delay_ms)
    started = []
    for _ in range(count):
        run = api.beta.threads.create_and_run(
            assistant_id=assistant_id, thread={"messages": [{"role": "user", "content": message}]})
        started.append(Started(run.thread_id, run.id, expected))
    return started


def settle(api: openai.OpenAI, runs: list[Started], outcome: Outcome, seconds: float) -> Outcome:
    """Wait for every run to end, then count how each ended and what it wrote."""
    deadline = time.monotonic() + seconds
    outcome.runs += len(runs)
    for started in runs:
        while True:
            run = _retrying(lambda s=started: api.beta.threads.runs.retrieve(
                s.run_id, thread_id=s.thread_id), seconds)
            status = getattr(run, "status", "")
            if status in TERMINAL or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if status not in TERMINAL:
            outcome.stuck += 1
            continue
        if status != "completed":
            outcome.failed.append(f"{started.run_id} {status}: {getattr(run, 'last_error', None)}")
            continue
        outcome.completed += 1
        messages = _retrying(lambda s=started: api.beta.threads.messages.list(
            s.thread_id, order="asc"), seconds)
        replies = [m for m in getattr(messages, "data", []) if m.role == "assistant"]
        texts = [part.text.value for m in replies for part in m.content if part.type == "text"]
        if texts != [started.expected]:
            outcome.duplicated += 1
    return outcome


def _respawned(up: Up, program: str, old_pid: int) -> bool:
    info = up.info(program)
    return bool(info["pid"]) and info["pid"] != old_pid and info["statename"] in (
        "STARTING", "RUNNING")


def kill_trial(up: Up, api: openai.OpenAI, assistant_id: str, program: str, runs: int = 6,
               settle_seconds: float = 120) -> Outcome:
    """Start `runs` slow runs, kill -9 `program` while they stream, and follow them to
    their end. Recovery: from the kill until the program runs again and /ready answers."""
    started = start_runs(api, assistant_id, runs)
    time.sleep(1.0)
    old_pid = up.kill(program)
    killed = time.monotonic()
    outcome = Outcome(fault=f"kill -9 {program}")
    while True:
        try:
            if _respawned(up, program, old_pid) and up.ready():
                break
        except OSError:
            pass
        if time.monotonic() - killed > settle_seconds:
            outcome.stuck = runs
            return outcome
        time.sleep(0.05)
    outcome.recovered_seconds = time.monotonic() - killed
    return settle(api, started, outcome, settle_seconds)


def restart_trial(up: Up, gap: float, log: Path, key: str, assistant_id: str) -> tuple[Up, Outcome]:
    """SIGTERM `up`, start a new one on the same data directory `gap` seconds later, and
    run once on it. Recovery: from the new start until /ready answers."""
    up.process.send_signal(signal.SIGTERM)
    time.sleep(gap)
    fresh = Up(up.env, log, wait=False)
    started = time.monotonic()
    outcome = Outcome(fault=f"restart, {gap:g} s gap")
    # Ready only counts once the old instance is gone: until then it may be the one answering.
    if up.process.wait(timeout=120) != 0:
        outcome.failed.append(f"the stopped instance exited {up.process.returncode}")
    fresh.wait_ready(180)
    outcome.recovered_seconds = time.monotonic() - started
    api = client(fresh, key)
    return fresh, settle(api, start_runs(api, assistant_id, 1, tokens=5, chunk_delay_ms=10),
                         outcome, 120)
