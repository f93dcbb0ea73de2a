"""Run (or response) overhead and throughput of a whole Treadle deployment on this machine.

Prints, for streamed runs driven by the official openai SDK against a fake model server
(`--api responses`: streamed responses, `responses.create(..., stream=True)`, in their place;
see the end):

(a) overhead: N sequential streamed runs (`runs.create(..., stream=True)`, one thread per
    run made beforehand), each paired with a direct streamed chat completion against the same
    model server giving the same reply (same SDK, same messages). Time from request to
    `thread.run.completed` vs the end of the direct stream, and time to the first
    `thread.message.delta` vs the direct call's first content token: p50 and p99 of both
    and of the per-pair difference (the platform's overhead); then where a run's time goes,
    stage by stage, from the client's clock and the ids of the run's Redis Stream entries;
(b) throughput: completed runs per second over a fixed window with C concurrent clients
    (spread over client processes, each client thread creating runs on threads of its own,
    made beforehand, and waiting for completion by stream or by polling), once with a
    one-chunk answer and once with a 300-token answer streamed one token per chunk; with
    the CPU time (and its system share) every process spent in the window: API, runs
    worker, timers worker, scheduler, model server, the bench clients, the Postgres backends
    of the bench database, the Redis server, and "other" (the rest of the machine: other
    work running there skews every figure), and Postgres transactions per run.

    TREADLE_BENCH_REDIS=redis://127.0.0.1:6379 \
    .venv/bin/python bench/runs.py [--api runs|responses] [--runs 200] [--concurrency 16]
                                   [--client-processes 4] [--duration 10] [--warmup 2]
                                   [--wait stream|poll] [--answer both|one-chunk|long]
                                   [--redis-db 14]
                                   [--runs-processes 2] [--skip-overhead] [--skip-throughput]

It serves Treadle itself: a fresh database `treadle_bench_<random>` on the local Postgres,
Redis database `--redis-db` (flushed first and last; also Celery's broker), `treadle
migrate`, a key from `treadle keys create`, the model server (`python -m
tests.support.model_server`), `treadle api` (TREADLE_API_WORKERS, default 2),
`--runs-processes` x `treadle worker --pool runs`, `treadle worker --pool timers` and
`treadle scheduler`, each its own process with its default settings, as `treadle up` runs
them. Everything is stopped and the database dropped afterwards. Other TREADLE_* variables
in the environment (e.g. TREADLE_RUNS_CONCURRENCY) reach the processes as usual. The pids
are printed first, so a profiler can be attached (e.g. `py-spy record --gil --pid PID`).

Targets (this 2-core machine, issue 13): overhead <= 8 ms p50 and <= 20 ms p99; first-token
overhead <= 5 ms p50; >= 150 runs/s (one chunk) and >= 100 runs/s (300 tokens). PASS/MISS is printed
per target; exits 0 either way (this measures, it does not test) and 1 when a run failed.

`--api responses` holds the Responses API to the same targets: each overhead sample is a
streamed `responses.create(model, instructions, input)` (the same messages) timed to
`response.completed` and to the first `response.output_text.delta`, paired with the same
direct chat completion; the throughput clients create streamed responses (no threads made
beforehand; `--wait poll` is for runs only). A response is executed as a run with the
response's id, so the stages are read from that run's Redis Stream as for runs; its relay
stages include the translation to response events. Only the call that starts a stream and
reads it differs between the two (`Api`); timing, pairing and printing are shared.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from processes import stop_on_sigterm
from serving import free_port, http_ok, prepare_database, tear_down
from serving import treadle as treadle_command

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# The Redis server to use (its database index comes from --redis-db): TREADLE_BENCH_REDIS,
# else the local default.
REDIS_BASE = os.environ.get("TREADLE_BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
ROOT = Path(__file__).resolve().parent.parent
MODEL = "test-model"
INSTRUCTIONS = "Be brief."
LONG_TOKENS = 300

TARGET_OVERHEAD_P50_MS = 8.0
TARGET_OVERHEAD_P99_MS = 20.0
TARGET_FIRST_TOKEN_P50_MS = 5.0
TARGET_RPS_ONE_CHUNK = 150.0
TARGET_RPS_LONG = 100.0

OVERHEAD_WARMUP = 10
FAILED_EVENTS = frozenset({"thread.run.failed", "thread.run.cancelled", "thread.run.expired",
                           "thread.run.incomplete", "thread.run.requires_action"})
CLK_TCK = os.sysconf("SC_CLK_TCK")


def script(**plan: Any) -> str:
    return "SCRIPT: " + json.dumps(plan)


@dataclass(frozen=True)
class Answer:
    name: str
    content: str  # the user message; its SCRIPT line decides the model server's reply
    target_rps: float


# One content chunk; 300 content chunks of one token each, sent in one write by the server.
ONE_CHUNK = Answer("one chunk", "Say hello.\n" + script(text="Hello! How can I help you today?",
                                                        chunk_tokens=1000),
                   TARGET_RPS_ONE_CHUNK)
LONG = Answer(f"{LONG_TOKENS} tokens", "Count.\n" + script(tokens=LONG_TOKENS, chunk_tokens=1),
              TARGET_RPS_LONG)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=tuple(APIS), default="runs",
                        help="what is driven: runs.create or responses.create, streamed")
    parser.add_argument("--runs", type=int, default=200,
                        help="sequential streamed runs for the overhead figures")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent clients for the throughput figures")
    parser.add_argument("--client-processes", type=int, default=None,
                        help="processes the clients are spread over (default min(C, 4))")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of the measured throughput window")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load before the throughput window opens")
    parser.add_argument("--wait", choices=("stream", "poll"), default="stream",
                        help="how throughput clients wait: stream events or create_and_poll")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database index to use")
    parser.add_argument("--answer", choices=("both", "one-chunk", "long"), default="both",
                        help="which answers to measure (long: the 300-token one)")
    parser.add_argument("--runs-processes", type=int, default=2,
                        help="runs worker processes (as `treadle up` starts them)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if args.runs < 1 or args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--runs, --concurrency and --duration must be positive")
    if args.api == "responses" and args.wait == "poll":
        parser.error("--wait poll is for runs (create_and_poll); responses are streamed")
    processes = args.client_processes or min(args.concurrency, 4)
    args.client_processes = max(1, min(processes, args.concurrency))
    return args


# --------------------------------------------------------------------------- deployment

@dataclass
class Deployment:
    url: str
    key: str
    model_url: str
    redis_url: str
    database: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def tail(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-3000:]


def wait_for(what: str, ready: Any, deployment: Deployment, name: str,
             timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    process = deployment.processes[name]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{deployment.tail(name)}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{deployment.tail(name)}")


@contextmanager
def deployment(redis_db: int, runs_processes: int, broker_url: str | None = None
               ) -> Iterator[Deployment]:
    """Serve Treadle, its workers and the model server on a throwaway database; `broker_url`:
    Celery's broker, when not the Redis database the deployment uses."""
    import redis

    database = f"treadle_bench_{secrets.token_hex(4)}"
    redis_url = f"{REDIS_BASE}/{redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="treadle_bench_runs_"))
    model_port, api_port = free_port(), free_port()
    model_url = f"http://127.0.0.1:{model_port}/v1"
    env = dict(os.environ,
               TREADLE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{database}",
               TREADLE_REDIS_URL=redis_url, TREADLE_MODEL_BASE_URL=model_url,
               TREADLE_API_WORKERS=os.environ.get("TREADLE_API_WORKERS", "2"),
               TREADLE_DATA_DIR=str(workdir / "data"))
    env.pop("TREADLE_BROKER_URL", None)
    if broker_url is not None:
        env["TREADLE_BROKER_URL"] = broker_url
    treadle = treadle_command()
    deploy = Deployment(f"http://127.0.0.1:{api_port}", "", model_url, redis_url,
                        database)
    try:
        deploy.key = prepare_database(database, env)
        commands = {
            "model server": [sys.executable, "-m", "tests.support.model_server",
                             "--port", str(model_port)],
            "api": [treadle, "api", "--host", "127.0.0.1", "--port", str(api_port)],
            # Default log levels, as `treadle up` runs them.
            **{f"runs worker {n}": [treadle, "worker", "--pool", "runs", "--name", f"runs-{n}"]
               for n in range(1, runs_processes + 1)},
            "timers worker": [treadle, "worker", "--pool", "timers"],
            "scheduler": [treadle, "scheduler"],
        }
        for name, command in commands.items():
            deploy.logs[name] = workdir / f"{name.replace(' ', '_')}.log"
            with open(deploy.logs[name], "wb") as log:
                # Own session, so a hung process can be killed as a group with its children.
                deploy.processes[name] = subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
        wait_for("model server", lambda: http_ok(f"{model_url}/models"), deploy, "model server")
        wait_for("api", lambda: http_ok(f"{deploy.url}/ready"), deploy, "api")
        nodes = {f"runs worker {n}": f"runs-{n}" for n in range(1, runs_processes + 1)}
        nodes["timers worker"] = "timers"
        for name, node in nodes.items():
            wait_for(name, lambda n=node: _worker_ready(broker_url or redis_url, n), deploy, name)
        yield deploy
    finally:
        tear_down(list(deploy.processes.values()), database, redis_url, workdir)


def _worker_ready(broker_url: str, node: str) -> bool:
    """A worker is ready when it answers a ping over the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(timeout=0.5)
    finally:
        app.close()
    return any(host.startswith(f"{node}@") for reply in replies for host in reply)


# --------------------------------------------------------------------------- CPU accounting

def _cpu(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds used by a live process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def _all_processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        table[int(entry.name)] = (int(text[text.rindex(")") + 2:].split()[1]), name)
    return table


def _serves(pid: int, database: str) -> bool:
    """Whether a Postgres process is a backend connected to `database` (from its title)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return f" {database} " in title.replace("\0", " ")


def process_groups(deploy: Deployment, clients: list[int], client_trees: bool = True
                   ) -> dict[str, list[int]]:
    """Every pid of each part of the system: our processes with their descendants, the
    bench clients (with theirs when `client_trees`), the Postgres backends serving the
    bench database, and the Redis server (shared with whatever else uses it)."""
    table = _all_processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> list[int]:
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    groups = {name: tree(p.pid) for name, p in deploy.processes.items()}
    groups["bench clients"] = ([pid for root in clients for pid in tree(root)]
                               if client_trees else list(clients))
    groups["postgres"] = [pid for pid, (_, name) in table.items()
                          if name == "postgres" and _serves(pid, deploy.database)]
    groups["redis"] = [pid for pid, (_, name) in table.items() if name.startswith("redis-serv")]
    return groups


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def idle_load(seconds: float = 2.0) -> float:
    """Share of all CPUs busy while the deployment sits idle: other work on this machine."""
    before = machine_busy()
    time.sleep(seconds)
    after = machine_busy()
    return (after[0] - before[0]) / max(1e-9, after[1] - before[1])


@dataclass
class CpuSnapshot:
    at: float
    pids: dict[int, tuple[float, float]]
    machine: tuple[float, float]


def snapshot(groups: dict[str, list[int]]) -> CpuSnapshot:
    pids: dict[int, tuple[float, float]] = {}
    for members in groups.values():
        for pid in members:
            used = _cpu(pid)
            if used is not None:
                pids[pid] = used
    return CpuSnapshot(time.monotonic(), pids, machine_busy())


def cpu_split(groups: dict[str, list[int]], start: CpuSnapshot, end: CpuSnapshot
              ) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds each group spent between two snapshots (a pid born in
    between counts from zero; one that died in between is missed)."""
    split: dict[str, tuple[float, float]] = {}
    for name, members in groups.items():
        user = system = 0.0
        for pid in members:
            if pid in end.pids:
                before = start.pids.get(pid, (0.0, 0.0))
                user += end.pids[pid][0] - before[0]
                system += end.pids[pid][1] - before[1]
        split[name] = (user, system)
    return split


def print_cpu(groups: dict[str, list[int]], start: CpuSnapshot, end: CpuSnapshot,
              runs: int) -> None:
    seconds = end.at - start.at
    cpus = os.cpu_count() or 1
    split = cpu_split(groups, start, end)
    busy = end.machine[0] - start.machine[0]
    total = end.machine[1] - start.machine[1]
    print(f"  CPU over the {seconds:.1f} s window ({cpus} CPUs = {100 * cpus}%):")
    print(f"    {'process':<16}{'CPU %':>7}{'of it sys':>11}{'CPU-ms/run':>12}")
    for name, (user, system) in sorted(split.items(), key=lambda item: -sum(item[1])):
        used = user + system
        per_run = 1000 * used / runs if runs else math.nan
        print(f"    {name:<16}{100 * used / seconds:>7.0f}{100 * system / seconds:>10.0f}%"
              f"{per_run:>12.2f}")
    ours = sum(user + system for user, system in split.values())
    print(f"    {'other':<16}{100 * (busy - ours) / seconds:>7.0f}"
          f"{'':>11}{'':>12}   (processes not of this benchmark, and the kernel's own)")
    print(f"    machine busy {100 * busy / total:.0f}% of all CPUs")
    if runs:
        per_run = 1000 * ours / runs
        print(f"    this benchmark's processes: {per_run:.1f} CPU-ms per completed run, "
              f"so at most ~{1000 * cpus / per_run:.0f} runs/s if they had all {cpus} CPUs")


def print_busy(groups: dict[str, list[int]], start: CpuSnapshot, end: CpuSnapshot) -> None:
    """One line: how busy the machine was, and how much of that was not this benchmark."""
    seconds = end.at - start.at
    ours = sum(u + s for u, s in cpu_split(groups, start, end).values())
    busy = end.machine[0] - start.machine[0]
    print(f"  CPU meanwhile ({100 * (os.cpu_count() or 1)}% = all CPUs): "
          f"this benchmark {100 * ours / seconds:.0f}%, "
          f"other {100 * max(0.0, busy - ours) / seconds:.0f}%"
          + ("  (WARNING: other work skews these figures)"
             if busy - ours > 0.1 * seconds else ""))


# --------------------------------------------------------------------------- measuring

def transactions(database: str) -> int:
    """Transactions Postgres has counted for the database (its statistics lag up to ~1 s)."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                            "WHERE datname = %s", (database,)).fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def make_client(base_url: str, key: str) -> Any:
    from openai import OpenAI

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)


class RunFailed(Exception):
    pass


# Runs and responses differ only in the call that starts a stream and in what its events are
# called. Each API's reader yields (name, detail) in the runs' vocabulary: a response's events
# are translated from its run's recorded events (its run has the response's id), so the same
# names time both and the same stages read the same Redis Stream. `detail`: the id on
# thread.run.created, the error on a failure event, else "".
Events = Iterator[tuple[str, str]]


def run_events(client: Any, thread_id: str, assistant_id: str) -> Events:
    stream = client.beta.threads.runs.create(thread_id, assistant_id=assistant_id, stream=True)
    try:
        for event in stream:
            name = event.event
            if name == "thread.run.created":
                yield name, event.data.id
            elif name in FAILED_EVENTS:
                yield name, str(getattr(event.data, "last_error", None))
            else:
                yield name, ""
    finally:
        stream.close()


# A response's stream event -> the run event it is translated from.
RESPONSE_EVENTS = {"response.created": "thread.run.created",
                   "response.in_progress": "thread.run.in_progress",
                   "response.output_text.delta": "thread.message.delta",
                   "response.completed": "thread.run.completed",
                   "response.failed": "thread.run.failed",
                   "response.incomplete": "thread.run.incomplete",
                   "error": "thread.run.failed"}


def response_events(client: Any, content: str, assistant_id: str) -> Events:
    stream = client.responses.create(model=MODEL, instructions=INSTRUCTIONS, input=content,
                                     stream=True)
    try:
        for event in stream:
            name = RESPONSE_EVENTS.get(event.type, event.type)
            if name == "thread.run.created":
                yield name, event.response.id
            elif name in FAILED_EVENTS:
                response = getattr(event, "response", None)
                yield name, str(getattr(response, "error", None) or getattr(event, "message", ""))
            else:
                yield name, ""
    finally:
        stream.close()


def run_targets(client: Any, content: str, count: int, workers: int) -> Iterator[str]:
    """A thread made beforehand, with the user message on it, for each run."""
    return iter(new_threads(client, content, count, workers))


def response_targets(client: Any, content: str, count: int, workers: int) -> Iterator[str]:
    """A response needs nothing made beforehand: its input is the message."""
    return itertools.repeat(content)


def run_reply(client: Any, thread_id: str, run_id: str) -> str:
    last = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
    return str(last.content[0].text.value)


def response_reply(client: Any, content: str, response_id: str) -> str:
    return str(client.responses.retrieve(response_id).output_text)


@dataclass(frozen=True)
class Api:
    name: str
    noun: str
    done_event: str  # as the client sees them
    first_event: str
    events: Callable[[Any, str, str], Events]  # (client, target, assistant id)
    targets: Callable[[Any, str, int, int], Iterator[str]]  # (client, content, count, workers)
    reply: Callable[[Any, str, str], str]  # (client, target, run or response id)


APIS = {
    "runs": Api("runs", "run", "thread.run.completed", "thread.message.delta", run_events,
                run_targets, run_reply),
    "responses": Api("responses", "response", "response.completed",
                     "response.output_text.delta", response_events, response_targets,
                     response_reply),
}


def streamed(api: Api, client: Any, target: str, assistant_id: str,
             seen: dict[str, Any] | None = None) -> tuple[float, float]:
    """(seconds to the first text delta, seconds to the end: completed); `seen`, when given,
    gets the run's id and the wall-clock times of the request and of its events (by the
    runs' names)."""
    started = time.perf_counter()
    if seen is not None:
        seen["request"] = time.time()
    first = done = math.nan
    with closing(api.events(client, target, assistant_id)) as events:
        for name, detail in events:
            if seen is not None:
                seen.setdefault(name, time.time())
                if name == "thread.run.created":
                    seen["run_id"] = detail
            if name == "thread.message.delta":
                if math.isnan(first):
                    first = time.perf_counter()
            elif name == "thread.run.completed":
                done = time.perf_counter()
            elif name in FAILED_EVENTS:
                raise RunFailed(f"{name}: {detail}")
    if math.isnan(done):
        raise RunFailed(f"the stream ended without {api.done_event}")
    return first - started, done - started


def polled_run(client: Any, thread_id: str, assistant_id: str) -> tuple[float, float]:
    started = time.perf_counter()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread_id,
                                                   assistant_id=assistant_id)
    done = time.perf_counter()
    if run.status != "completed":
        raise RunFailed(f"{run.status}: {run.last_error}")
    return math.nan, done - started


def direct_chat(client: Any, messages: list[dict[str, Any]]) -> tuple[float, float, str]:
    """(seconds to the first content token, seconds to the end of the stream, the text)."""
    started = time.perf_counter()
    first = math.nan
    parts: list[str] = []
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    try:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    if math.isnan(first):
                        first = time.perf_counter()
                    parts.append(choice.delta.content)
    finally:
        stream.close()
    return first - started, time.perf_counter() - started, "".join(parts)


def new_threads(client: Any, content: str, count: int, workers: int = 8) -> list[str]:
    def one(_: int) -> str:
        return str(client.beta.threads.create(
            messages=[{"role": "user", "content": content}]).id)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def overhead(api: Api, deploy: Deployment, assistant_id: str, answer: Answer, runs: int
             ) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """Sequential streamed runs (or responses), each paired with a direct streamed chat
    completion."""
    client = make_client(deploy.url + "/v1", deploy.key)
    direct = make_client(deploy.model_url, "unused")
    messages = [{"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": answer.content}]
    targets = list(itertools.islice(api.targets(client, answer.content,
                                                runs + OVERHEAD_WARMUP, 8),
                                    runs + OVERHEAD_WARMUP))
    out: dict[str, list[float]] = {k: [] for k in ("run", "direct", "run_first", "direct_first")}
    reply = None
    seen: list[dict[str, Any]] = []
    marks: dict[str, Any] = {}
    for index, target in enumerate(targets):
        marks = {}
        # Alternate the order so neither side always follows the other.
        if index % 2:
            run_first, run_done = streamed(api, client, target, assistant_id, marks)
            direct_first, direct_done, text = direct_chat(direct, messages)
        else:
            direct_first, direct_done, text = direct_chat(direct, messages)
            run_first, run_done = streamed(api, client, target, assistant_id, marks)
        if index < OVERHEAD_WARMUP:
            reply = text
            continue
        seen.append(marks)
        out["run"].append(run_done)
        out["direct"].append(direct_done)
        out["run_first"].append(run_first)
        out["direct_first"].append(direct_first)
    # The run's reply must be the direct call's, or the comparison is not like for like.
    last = api.reply(client, targets[-1], marks["run_id"])
    if last != reply:
        raise RuntimeError(f"{api.noun} reply {last[:80]!r} differs from the "
                           f"direct reply {str(reply)[:80]!r}")
    return out, seen


# (label, from, to): "c:" a time the client saw, "p:" when the event entered the run's Redis
# Stream (its entry id, Redis's clock in ms; same machine, so comparable with the client's).
STAGES = [
    ("API: request -> run.created published", "c:request", "p:thread.run.created"),
    ("queue + worker start -> run.in_progress", "p:thread.run.created",
     "p:thread.run.in_progress"),
    ("prompt + model 1st chunk + inserts -> message.created", "p:thread.run.in_progress",
     "p:thread.message.created"),
    ("message.created -> 1st delta published", "p:thread.message.created",
     "p:thread.message.delta"),
    ("relay: 1st delta published -> client has it", "p:thread.message.delta",
     "c:thread.message.delta"),
    ("rest of answer + close + end -> run.completed", "p:thread.message.delta",
     "p:thread.run.completed"),
    ("relay: run.completed published -> client has it", "p:thread.run.completed",
     "c:thread.run.completed"),
]


def print_breakdown(api: Api, redis_url: str, seen: list[dict[str, Any]]) -> None:
    """Median time of each stage of a run, from the client's clock and the stream's ids."""
    import redis

    client = redis.Redis.from_url(redis_url)
    spans: dict[str, list[float]] = {label: [] for label, _, _ in STAGES}
    for marks in seen:
        points = {f"c:{name}": value for name, value in marks.items() if name != "run_id"}
        entries: Any = client.xrange(f"events:run:{marks['run_id']}")
        for entry_id, fields in entries:
            name = "p:" + fields[b"e"].decode()
            points.setdefault(name, int(entry_id.split(b"-")[0]) / 1000)
        for label, start, end in STAGES:
            if start in points and end in points:
                spans[label].append(points[end] - points[start])
    print(f"  where a {api.noun}'s time goes (median and p99 ms; 'published' is Redis's 1 ms "
          "clock):")
    if api.name == "responses":
        print("    (the response's run's events, by the runs' names; the relay stages include "
              "their translation\n     to response.output_text.delta and response.completed)")
    for label, values in spans.items():
        if values:
            print(f"    {label:<54}{1000 * percentile(values, 50):>7.1f}"
                  f"{1000 * percentile(values, 99):>8.1f}")


def print_overhead(api: Api, answer: Answer, timings: dict[str, list[float]]
                   ) -> dict[str, float]:
    diffs = [r - d for r, d in zip(timings["run"], timings["direct"], strict=True)]
    first_diffs = [r - d for r, d in zip(timings["run_first"], timings["direct_first"],
                                         strict=True)]
    rows = [(f"{api.noun}: request -> {api.done_event}", timings["run"]),
            ("direct: request -> end of stream", timings["direct"]),
            ("overhead (pairwise difference)", diffs),
            (f"{api.noun}: request -> first {api.first_event.removeprefix('thread.')}",
             timings["run_first"]),
            ("direct: request -> first content token", timings["direct_first"]),
            ("first-token overhead (pairwise)", first_diffs)]
    print(f"\n(a) Overhead, {answer.name} answer, {len(diffs)} sequential streamed "
          f"{api.name}")
    print(f"  {'':<52}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for label, values in rows:
        print(f"  {label:<52}{1000 * percentile(values, 50):>9.1f}"
              f"{1000 * percentile(values, 99):>9.1f}{1000 * sum(values) / len(values):>9.1f}")
    return {"p50": 1000 * percentile(diffs, 50), "p99": 1000 * percentile(diffs, 99),
            "first_p50": 1000 * percentile(first_diffs, 50)}


# --------------------------------------------------------------------------- throughput

@dataclass(frozen=True)
class ClientJob:
    url: str
    key: str
    assistant_id: str
    api: str
    content: str
    threads: int  # client threads in this process
    pool: int  # Treadle threads to make beforehand, one per run (runs only)
    wait: str


def client_process(job: ClientJob, ready: Any, go: Any, window: Any, results: Any) -> None:
    """One bench client process: make its threads, wait for the start, run until the end."""
    try:
        client = make_client(job.url + "/v1", job.key)
        api = APIS[job.api]
        todo = api.targets(client, job.content, job.pool, job.threads)
        take = threading.Lock()
        ready.put(os.getpid())
        go.wait()
        stop_at = window[1]
        def runner(target: str) -> tuple[float, float]:
            if job.wait == "poll":
                return polled_run(client, target, job.assistant_id)
            return streamed(api, client, target, job.assistant_id)

        records: list[tuple[float, float, float]] = []
        failures: list[str] = []
        ran_out: list[float] = []
        lock = threading.Lock()

        def loop() -> None:
            while time.monotonic() < stop_at:
                with take:
                    target = next(todo, None)
                if target is None:
                    ran_out.append(time.monotonic())
                    return
                started = time.monotonic()
                try:
                    first, done = runner(target)
                except Exception as error:
                    with lock:
                        failures.append(f"{type(error).__name__}: {error}")
                    continue
                with lock:
                    records.append((started, started + first, started + done))

        workers = [threading.Thread(target=loop) for _ in range(job.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        results.put({"records": records, "failures": failures,
                     "ran_out": min(ran_out, default=None)})
    except Exception as error:  # report instead of leaving the parent waiting
        results.put({"records": [], "failures": [f"client setup: {error!r}"],
                     "ran_out": None})


@dataclass
class Throughput:
    rps: float
    completed: int
    failures: list[str]
    p50_ms: float
    p99_ms: float
    ran_out: bool  # a client used up its threads inside the window, which then ended there


def throughput(api: Api, deploy: Deployment, assistant_id: str, answer: Answer,
               concurrency: int, processes: int, duration: float, warmup: float, wait: str
               ) -> Throughput:
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    window = ctx.Array("d", 2)
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    # Fresh threads for 1.5 times the target rate. A faster system uses them up before the
    # window closes; the rate is then taken up to that moment, when all clients still ran.
    per_second = 1.5 * answer.target_rps
    jobs = [ClientJob(deploy.url, deploy.key, assistant_id, api.name, answer.content, share,
                      math.ceil(per_second * (warmup + duration) * share / concurrency) + share,
                      wait) for share in shares]
    clients = [ctx.Process(target=client_process, args=(job, ready, go, window, results),
                           daemon=True) for job in jobs]
    setup = time.monotonic()
    for process in clients:
        process.start()
    try:
        for _ in clients:
            ready.get(timeout=600)
        made = (f"{sum(j.pool for j in jobs)} threads made" if api.name == "runs"
                else "clients ready")
        print(f"\n  [{answer.name}: {made} in {time.monotonic() - setup:.1f} s; measuring]",
              flush=True)
        opens = time.monotonic() + warmup
        window[0], window[1] = opens, opens + duration
        go.set()
        time.sleep(max(0.0, opens - time.monotonic()))
        # After the warm-up, so Postgres backends the pools opened meanwhile are counted.
        groups = process_groups(deploy, [p.pid for p in clients if p.pid is not None])
        first = snapshot(groups)
        xacts = transactions(deploy.database)
        time.sleep(max(0.0, window[1] - time.monotonic()))
        last = snapshot(groups)
        xacts = transactions(deploy.database) - xacts
        outcomes = [results.get(timeout=300) for _ in clients]
    finally:
        for process in clients:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    records = [r for outcome in outcomes for r in outcome["records"]]
    failures = [f for outcome in outcomes for f in outcome["failures"]]
    ran_out = [o["ran_out"] for o in outcomes if o["ran_out"] is not None]
    end = min([last.at, *ran_out])
    if end <= first.at:
        raise RuntimeError("the clients used up their threads during the warm-up; "
                           "raise the pool size in throughput()")
    inside = sum(1 for r in records if first.at <= r[2] <= end)
    latencies = [r[2] - r[0] for r in records if first.at <= r[0] <= end]
    result = Throughput(inside / (end - first.at), inside, failures,
                        1000 * percentile(latencies, 50), 1000 * percentile(latencies, 99),
                        end < last.at)
    # CPU per run: everything that completed between the two CPU snapshots.
    between = sum(1 for r in records if first.at <= r[2] <= last.at)
    print(f"(b) Throughput of {api.name}, {answer.name} answer: {concurrency} clients in "
          f"{processes} processes, wait by {wait}, {warmup:.0f} s warm-up + {duration:.0f} s "
          "window")
    print(f"  {result.rps:.1f} {api.name}/s ({result.completed} {api.name} completed in "
          f"{end - first.at:.1f} s), "
          f"{api.noun} latency p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms, "
          f"{len(failures)} failed")
    if result.ran_out:
        print(f"  (a client used up its threads {last.at - end:.1f} s before the window "
              "closed; the rate is taken up to that moment)")
    for failure in sorted(set(failures))[:5]:
        print(f"  failure: {failure[:200]}")
    print_cpu(groups, first, last, between)
    if between:
        print(f"    Postgres transactions: {xacts / between:.1f} per completed run "
              f"(pg_stat_database; an autocommit statement counts as one)")
    return result


# --------------------------------------------------------------------------- main

def verdict(label: str, value: float, target: float, at_most: bool, unit: str) -> None:
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    print(f"  {label:<38}{value:>8.1f} {unit:<11} target {sign} {target:>5.0f} {unit:<11} "
          f"{'PASS' if met else 'MISS'}")


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    api = APIS[args.api]
    failed = False
    with deployment(args.redis_db, args.runs_processes) as deploy:
        pids = ", ".join(f"{name} {p.pid}" for name, p in deploy.processes.items())
        print(f"Treadle {api.name} benchmark: API {deploy.url} (TREADLE_API_WORKERS="
              f"{os.environ.get('TREADLE_API_WORKERS', '2')}), model server {deploy.model_url}, "
              f"{os.cpu_count()} CPUs\nprocesses: {pids}", flush=True)
        load = idle_load()
        print(f"machine busy while the deployment idles: {100 * load:.0f}% of all CPUs"
              + ("  (WARNING: other work on this machine lowers the figures)"
                 if load > 0.1 else ""), flush=True)
        client = make_client(deploy.url + "/v1", deploy.key)
        assistant_id = client.beta.assistants.create(model=MODEL, name="bench",
                                                     instructions=INSTRUCTIONS).id
        figures: dict[str, Any] = {}
        answers = {"both": (ONE_CHUNK, LONG), "one-chunk": (ONE_CHUNK,),
                   "long": (LONG,)}[args.answer]
        if not args.skip_overhead:
            for answer in answers:
                # This process alone: the deployment's processes are its children.
                groups = process_groups(deploy, [os.getpid()], client_trees=False)
                before = snapshot(groups)
                timings, seen = overhead(api, deploy, assistant_id, answer, args.runs)
                after = snapshot(groups)
                figures[answer.name] = print_overhead(api, answer, timings)
                print_breakdown(api, deploy.redis_url, seen)
                print_busy(groups, before, after)
                sys.stdout.flush()
        rates: dict[str, Throughput] = {}
        if not args.skip_throughput:
            for answer in answers:
                rates[answer.name] = throughput(api, deploy, assistant_id, answer,
                                                args.concurrency, args.client_processes,
                                                args.duration, args.warmup, args.wait)
                failed = failed or bool(rates[answer.name].failures)
                sys.stdout.flush()
    print(f"\nTargets (2-core machine), {api.name}:")
    if ONE_CHUNK.name in figures:
        one = figures[ONE_CHUNK.name]
        verdict("overhead p50 (one chunk)", one["p50"], TARGET_OVERHEAD_P50_MS, True, "ms")
        verdict("overhead p99 (one chunk)", one["p99"], TARGET_OVERHEAD_P99_MS, True, "ms")
        verdict("first-token overhead p50 (one chunk)", one["first_p50"],
                TARGET_FIRST_TOKEN_P50_MS, True, "ms")
    for answer in (ONE_CHUNK, LONG):
        if answer.name in rates:
            verdict(f"throughput ({answer.name})", rates[answer.name].rps, answer.target_rps,
                    False, f"{api.name}/s")
    if failed:
        print("\nWARNING: some runs failed; the throughput figures count completed runs only.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
