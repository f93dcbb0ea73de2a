"""Faults done for real to a `treadle up` platform, and what became of the runs in flight.

Shared by the chaos suite (tests/chaos), which asserts on the outcomes, and
`bench/chaos.py`, which prints them.
"""
from __future__ import annotations

import json
import signal
import threading
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
    # Streams followed through the fault with the SDK's event handler: how many broke, and
    # how many ended with other text than the run stored.
    streams: int = 0
    broken_streams: list[str] = field(default_factory=list)
    stream_mismatch: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.completed == self.runs and not (
            self.failed or self.stuck or self.duplicated or self.broken_streams
            or self.stream_mismatch)


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


class Follower(threading.Thread):
    """One run created streaming and followed to its end by the SDK's event handler."""

    def __init__(self, api: openai.OpenAI, assistant_id: str) -> None:
        super().__init__(daemon=True)
        self.api, self.assistant_id = api, assistant_id
        self.message, self.expected = script(20, 100)
        self.deltas = ""
        self.final: list[str] = []
        self.thread_id = self.run_id = ""
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with self.api.beta.threads.create_and_run_stream(
                    assistant_id=self.assistant_id,
                    thread={"messages": [{"role": "user", "content": self.message}]}) as stream:
                for event in stream:
                    if event.event == "thread.run.created":
                        self.thread_id, self.run_id = event.data.thread_id, event.data.id
                    elif event.event == "thread.message.delta":
                        self.deltas += "".join(part.text.value or "" for part in
                                               event.data.delta.content or []
                                               if part.type == "text" and part.text)
                self.final = [part.text.value for m in stream.get_final_messages()
                              for part in m.content if part.type == "text"]
        except Exception as error:
            self.error = error

    def judge(self, api: openai.OpenAI, outcome: Outcome, seconds: float) -> None:
        self.join(seconds)
        outcome.streams += 1
        if self.is_alive() or self.error is not None:
            outcome.broken_streams.append(f"{self.run_id}: {self.error or 'never ended'}")
            return
        stored = _retrying(lambda: api.beta.threads.messages.list(
            self.thread_id, order="asc"), seconds)
        texts = [part.text.value for m in getattr(stored, "data", []) if m.role == "assistant"
                 for part in m.content if part.type == "text"]
        if not (self.deltas == self.expected and self.final == texts == [self.expected]):
            outcome.stream_mismatch.append(
                f"{self.run_id}: deltas {self.deltas!r}, final {self.final}, stored {texts}")


def _respawned(up: Up, program: str, old_pid: int) -> bool:
    info = up.info(program)
    return bool(info["pid"]) and info["pid"] != old_pid and info["statename"] in (
        "STARTING", "RUNNING")


def kill_trial(up: Up, api: openai.OpenAI, assistant_id: str, program: str, runs: int = 6,
               settle_seconds: float = 120) -> Outcome:
    """Start `runs` slow runs, and one more followed by a streaming SDK client, kill -9
    `program` while they stream, and follow them to their end. Recovery: from the kill until
    the program runs again and /ready answers. Killing the API cuts its streams: that
    client's stream is not judged (a client resumes with `Last-Event-ID`)."""
    follower = Follower(api, assistant_id)
    follower.start()
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
    settle(api, started, outcome, settle_seconds)
    if program != "api":
        follower.judge(api, outcome, settle_seconds)
    return outcome


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
