"""Thousands of runs waiting on a slow model at once: how many a `treadle up` holds.

Creates N runs at once (`POST /v1/threads/runs`: a thread and its run in one request, from
--clients concurrent connections of one asyncio process) against the test model server,
whose answer is 300 tokens streamed one per chunk after a first-token delay D. Prints:

- the creation rate (runs/s) and any creation that failed;
- the peak number of runs in flight, counted at the model server (chat completions open at
  once, its `GET /_concurrency`), and each runs process' own peak of open model connections;
- the time from the last creation to the last run's end, minus D;
- how the runs ended: completed, and every other status with its error code;
- each runs process' RSS before the burst and at its peak, and the RSS it added per
  in-flight run (added RSS / its peak of open model connections);
- the Postgres connections to the database (pg_stat_activity client backends), before and
  at the peak;
- GET /v1/assistants/{id} latency (p50, p99, max), one request every 20 ms on one
  keep-alive connection from a process of its own, from the first creation to the last
  run's end;
- the CPU the machine, the model server and this process spent during the burst.

    .venv/bin/python bench/concurrency.py [--runs 2000] [--delay 30] [--shape up|single]
                                          [--clients 64] [--chunk-delay-ms 0] [--timeout 1200]

Shapes: `up` is `treadle up` with its defaults (TREADLE_RUNS_PROCESSES runs processes, two
API processes); `single` the same with TREADLE_RUNS_PROCESSES=1. Both serve PostgreSQL and
Redis themselves from a temporary data directory (as `make run` on a bare machine); other
TREADLE_* variables in the environment reach the platform as usual and are printed. The
model server is `python -m tests.support.model_server`, a process of its own. Everything is
stopped and the data directory removed at the end, also on Ctrl-C, SIGTERM or --timeout
(counted from the first creation; runs not ended by then are reported as unfinished).

Before the burst, batches of short runs warm every runs process up (its first runs load
what it imports lazily); the "before" figures are taken after them. Run state is read from
the platform's database every 0.25 s (not through the API, so watching costs the API
nothing). RSS is sampled from /proc/<pid>/status of the runs processes supervisord reports;
open model connections (idle pooled ones too) from /proc/<pid>/fd and /proc/net/tcp.

Targets (defaults, N = 2,000, D = 30 s, this 2-core machine): peak in flight >= 1,900; the
last run ends within D + 10 s of the last creation; 0 failed; <= 100 KB RSS per in-flight
run; API GET p99 <= 100 ms during the burst. PASS/MISS is printed per target; exits 0 either
way (this measures, it does not test) and 1 when a run failed or did not finish.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from processes import stop, stop_on_sigterm
from runs import idle_load, machine_busy, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.platform.embedded import environment as embedded_environment  # noqa: E402
from shared.platform.supervisor import PLATFORM  # noqa: E402
from tests.support.platform import Up, bare_env, data_dir, free_port, remove  # noqa: E402

TOKENS = 300
SAMPLE_SECONDS = 0.25
PROGRESS_SECONDS = 10.0
GET_INTERVAL = 0.02
# Short runs at once, in batches until every runs process has taken some.
WARMUP_RUNS = 24
WARMUP_BATCHES = 5
TARGET_IN_FLIGHT = 1_900
TARGET_TAIL_SECONDS = 10.0
TARGET_RSS_KB = 100.0
TARGET_GET_P99_MS = 100.0
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2_000, help="runs created at once (N)")
    parser.add_argument("--delay", type=float, default=30.0,
                        help="seconds before the model's first token (D)")
    parser.add_argument("--shape", choices=("up", "single"), default="up",
                        help="`treadle up` defaults, or one runs process")
    parser.add_argument("--clients", type=int, default=64,
                        help="concurrent connections creating the runs")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0,
                        help="model server's pause between chunks (0: the 300 chunks in one "
                             "write)")
    parser.add_argument("--timeout", type=float, default=1_200.0,
                        help="seconds from the first creation after which the bench stops")
    args = parser.parse_args()
    if args.runs < 1 or args.clients < 1 or args.delay < 0 or args.timeout <= 0:
        parser.error("--runs, --clients and --timeout must be positive, --delay not negative")
    return args


def raise_file_limit() -> int:
    """Every connection is a descriptor here and in the model server, which inherits this."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


# --------------------------------------------------------------------------- the platform

@contextmanager
def model_server(folder: Path) -> Iterator[tuple[str, int]]:
    """The test model server as a process of its own (base URL, pid)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(folder / "model_server.log", "wb") as log:
        # Its own session: Ctrl-C reaches this process, which stops it below.
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.model_server", "--port", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{base}/_health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the model server did not start: "
                                   + (folder / "model_server.log").read_text()[-2000:])
            time.sleep(0.1)
        yield base, process.pid
    finally:
        stop(process)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _get_json(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@contextmanager
def platform(shape: str, model_url: str, folder: Path) -> Iterator[Up]:
    """`treadle up` serving everything from a data directory under `folder`."""
    extra = {"TREADLE_RUNS_PROCESSES": "1"} if shape == "single" else {}
    env = bare_env(folder, model_url, **extra)
    # The tests' helper asks for one API process; this measures the defaults.
    env.pop("TREADLE_API_WORKERS")
    env.update({k: v for k, v in os.environ.items() if k == "TREADLE_API_WORKERS"})
    up = Up(env, folder / "up.log", wait=False)
    try:
        up.wait_serving(120)
        yield up
    finally:
        if up.process.poll() is None:
            up.stop()
        if up.leftovers():
            print("WARNING: processes left running:\n" + "\n".join(up.leftovers()))


def runs_processes(up: Up) -> dict[str, int]:
    """name -> pid of every runs worker process supervisord runs."""
    infos = up.supervisor().getAllProcessInfo()
    return {info["name"]: int(info["pid"]) for info in infos
            if info["group"] == PLATFORM and info["name"].startswith("runs-")}


def database_url(up: Up) -> str:
    with warnings.catch_warnings():
        # pgserver's platformdirs warns at import when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        return embedded_environment(up.data.resolve(), postgres=True, redis_server=False,
                                    broker=False)["TREADLE_DATABASE_URL"]


# --------------------------------------------------------------------------- sampling

def status_kb(pid: int, name: str) -> int:
    """A memory figure of /proc/<pid>/status (VmRSS: resident now, VmHWM: its peak); 0 once
    the process is gone (supervisord restarts a runs process that dies)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def model_sockets(port: int) -> set[str]:
    """Socket inodes of established TCP connections to the model server's port."""
    found: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def open_sockets(pid: int, among: set[str]) -> int:
    """How many of the socket inodes `among` the process holds."""
    count = 0
    folder = f"/proc/{pid}/fd"
    try:
        descriptors = os.listdir(folder)
    except OSError:
        return 0
    for fd in descriptors:
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:
            continue
        count += target.startswith("socket:[") and target[8:-1] in among
    return count


def cpu_seconds(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Sample:
    at: float
    statuses: dict[str, int]
    postgres: int
    in_flight: int
    rss: dict[str, int]
    connections: dict[str, int]


CLIENT_BACKENDS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")


@dataclass
class Sampler:
    """Samples the platform every SAMPLE_SECONDS in a thread of its own."""

    dsn: str
    model_base: str
    model_port: int
    workers: dict[str, int]
    after_seq: int  # runs with a larger seq are the burst's
    samples: list[Sample] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def sample(self, db: psycopg.Connection[Any]) -> Sample:
        statuses = dict(db.execute("SELECT status, count(*) FROM runs WHERE seq > %s "
                                   "GROUP BY status", (self.after_seq,)).fetchall())
        row = db.execute(CLIENT_BACKENDS).fetchone()
        sockets = model_sockets(self.model_port)
        return Sample(time.monotonic(), statuses, int(row[0]) if row else 0,
                      int(_get_json(f"{self.model_base}/_concurrency")["open"]),
                      {name: status_kb(pid, "VmRSS") for name, pid in self.workers.items()},
                      {name: open_sockets(pid, sockets) for name, pid in self.workers.items()})

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as db:
                while not self.stopping.is_set():
                    self.samples.append(self.sample(db))
                    self.stopping.wait(SAMPLE_SECONDS)
        except BaseException as error:  # reported by the main thread
            self.error = error

    def __enter__(self) -> Sampler:
        self.thread = threading.Thread(target=self.run, name="sampler", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def latest(self) -> Sample:
        while not self.samples and self.error is None:
            time.sleep(0.05)
        if self.error is not None:
            raise RuntimeError(f"sampling failed: {self.error!r}") from self.error
        return self.samples[-1]


# --------------------------------------------------------------------------- the API's GETs

def timed_gets(url: str, key: str, path: str, stopping: Any, out: Any) -> None:
    """In a process of its own: GET `path` every GET_INTERVAL on one keep-alive connection
    until `stopping` is set (paced, so the probe is no load of its own)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops this one
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[tuple[float, float]] = []
    failed = 0
    while not stopping.wait(GET_INTERVAL):
        at, started = time.monotonic(), time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            failed += response.status != 200
        except (OSError, http.client.HTTPException):
            failed += 1
            connection.close()
        latencies.append((at, time.perf_counter() - started))
    out.put((latencies, failed))


# --------------------------------------------------------------------------- the burst

@dataclass
class Creation:
    started: float
    created: list[float]  # when each creation was answered
    errors: list[str]

    @property
    def seconds(self) -> float:
        """From the first request to the last answer."""
        return max(self.created, default=self.started) - self.started


async def create_runs(base: str, key: str, body: dict[str, Any], count: int,
                      clients: int) -> Creation:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    todo = iter(range(count))
    created: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {key}"}) as client:

        async def one_client() -> None:
            for _ in todo:
                try:
                    response = await client.post("/v1/threads/runs", json=body)
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                if response.status_code == 200:
                    created.append(time.monotonic())
                else:
                    errors.append(f"{response.status_code}: {response.text[:200]}")

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(clients)))
    return Creation(started, created, errors)


def user_message(delay: float, chunk_delay_ms: float) -> str:
    plan = {"tokens": TOKENS, "chunk_tokens": 1, "delay_ms": round(delay * 1000),
            "chunk_delay_ms": chunk_delay_ms}
    return "Count.\nSCRIPT: " + json.dumps(plan)


def warm_up(base: str, key: str, assistant_id: str, dsn: str, workers: dict[str, int],
            model_port: int) -> int:
    """Batches of short runs until every runs process has served some: a process' first
    runs load what it imports lazily, which is not what the burst measures. Returns the
    largest run seq so far: the burst's runs come after it."""
    body = {"assistant_id": assistant_id,
            "thread": {"messages": [{"role": "user", "content": user_message(0.5, 0)}]}}
    served: set[str] = set()
    with psycopg.connect(dsn, autocommit=True) as db:
        for _ in range(WARMUP_BATCHES):
            creation = asyncio.run(create_runs(base, key, body, WARMUP_RUNS, WARMUP_RUNS))
            if creation.errors:
                raise RuntimeError(f"a warm-up run was refused: {creation.errors[0]}")
            deadline = time.monotonic() + 60
            while True:
                sockets = model_sockets(model_port)
                served.update(name for name, pid in workers.items()
                              if open_sockets(pid, sockets))
                row = db.execute("SELECT count(*) FILTER (WHERE status = ANY(%s)), "
                                 "count(*) FILTER (WHERE status <> 'completed'), max(seq) "
                                 "FROM runs", (list(ACTIVE),)).fetchone()
                assert row is not None
                if not row[0]:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the warm-up runs did not end within 60 s")
                time.sleep(0.1)
            if row[1]:
                raise RuntimeError(f"{row[1]} warm-up runs did not complete")
            if served == set(workers):
                return int(row[2])
    raise RuntimeError(f"runs processes {sorted(set(workers) - served)} took no run in "
                       f"{WARMUP_BATCHES} warm-up batches")


def all_ended(sample: Sample, count: int) -> bool:
    ended = sum(n for status, n in sample.statuses.items() if status not in ACTIVE)
    return ended >= count


def progress(sample: Sample, since: float, created: int) -> str:
    ended = {s: n for s, n in sample.statuses.items() if s not in ACTIVE}
    active = sum(n for s, n in sample.statuses.items() if s in ACTIVE)
    rss = ", ".join(f"{name} {kb / 1024:.0f} MB" for name, kb in sample.rss.items())
    return (f"  [{sample.at - since:5.0f} s] created {created}, active {active}, ended "
            f"{sum(ended.values())} {ended or ''}, model in flight {sample.in_flight}, "
            f"Postgres connections {sample.postgres}, {rss}")


def verdict(label: str, value: float, target: float, at_most: bool, unit: str) -> None:
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    print(f"  {label:<34}{value:>9.1f} {unit:<5} target {sign} {target:>7.0f} {unit:<5} "
          f"{'PASS' if met else 'MISS'}")


@dataclass
class Burst:
    """What one burst measured."""

    workers: dict[str, int]  # runs process name -> pid
    creation: Creation
    before: Sample  # the platform idle, just before the burst
    samples: list[Sample]  # from the first creation on
    ended_at: float  # when every created run had ended, or the timeout
    finished: bool  # every created run ended before the timeout
    peak_in_flight: int
    outcomes: list[tuple[str, str | None, int]]  # status, error code, runs
    restarted: set[str]
    hwm: dict[str, int]
    latencies: list[tuple[float, float]]  # the API's GETs meanwhile: (sent at, seconds)
    get_failures: int
    cpu: dict[str, float]  # share of one CPU each used over the burst; "machine": of all


def run_burst(args: argparse.Namespace, up: Up, key: str, model_base: str, model_pid: int
              ) -> Burst:
    base = up.base
    dsn = database_url(up)
    made = httpx.post(f"{base}/v1/assistants", headers={"Authorization": f"Bearer {key}"},
                      timeout=60, json={"model": "test-model", "name": "bench"})
    made.raise_for_status()
    assistant_id = made.json()["id"]
    workers = runs_processes(up)
    model_port = int(urlsplit(model_base).port or 0)
    after_seq = warm_up(base, key, assistant_id, dsn, workers, model_port)
    load = idle_load()
    print(f"runs processes: {', '.join(f'{n} (pid {p})' for n, p in workers.items())}; "
          f"machine busy while the platform idles: {100 * load:.0f}% of all CPUs"
          + ("  (WARNING: other work on this machine skews the figures)" if load > 0.1 else ""),
          flush=True)
    _get_json(f"{model_base}/_requests", method="DELETE")

    body = {"assistant_id": assistant_id,
            "thread": {"messages": [{"role": "user",
                                     "content": user_message(args.delay, args.chunk_delay_ms)}]}}
    context = multiprocessing.get_context("spawn")
    stopping, results = context.Event(), context.Queue()
    getter = context.Process(target=timed_gets, daemon=True, args=(
        base, key, f"/v1/assistants/{assistant_id}", stopping, results))
    sampler = Sampler(dsn, model_base, model_port, workers, after_seq)
    try:
        with sampler:
            before = sampler.latest()
            getter.start()
            machine, model, bench = machine_busy(), cpu_seconds(model_pid), cpu_seconds(
                os.getpid())
            creation = asyncio.run(create_runs(base, key, body, args.runs, args.clients))
            created = len(creation.created)
            print(f"  created {created} runs in {creation.seconds:.1f} s"
                  + (f"; {len(creation.errors)} creations failed" if creation.errors else ""),
                  flush=True)
            deadline = creation.started + args.timeout
            shown = time.monotonic()
            while not all_ended(sample := sampler.latest(), created):
                if time.monotonic() > deadline:
                    print(f"  TIMEOUT: {args.timeout:.0f} s after the first creation")
                    break
                if time.monotonic() - shown >= PROGRESS_SECONDS:
                    print(progress(sample, creation.started, created), flush=True)
                    shown = time.monotonic()
                time.sleep(SAMPLE_SECONDS / 2)
            seconds = max(1e-9, sample.at - creation.started)
            machine_after = machine_busy()
            cpu = {"machine": (machine_after[0] - machine[0]) / (machine_after[1] - machine[1]),
                   "model server": (cpu_seconds(model_pid) - model) / seconds,
                   "this bench": (cpu_seconds(os.getpid()) - bench) / seconds}
        stopping.set()
        latencies, get_failures = results.get(timeout=60)
        getter.join(timeout=10)
        now = runs_processes(up)
        restarted = {name for name, pid in workers.items() if now.get(name) != pid}
        with psycopg.connect(dsn, autocommit=True) as db:
            outcomes = db.execute(
                "SELECT status, last_error->>'code', count(*) FROM runs WHERE seq > %s "
                "GROUP BY 1, 2 ORDER BY 3 DESC", (after_seq,)).fetchall()
    finally:
        stopping.set()
        if getter.is_alive():
            getter.terminate()
            getter.join(timeout=10)
    return Burst(workers, creation, before,
                 [s for s in sampler.samples if s.at >= creation.started], sample.at,
                 all_ended(sample, len(creation.created)),
                 int(_get_json(f"{model_base}/_concurrency")["peak"]), outcomes,
                 restarted, {name: status_kb(pid, "VmHWM") for name, pid in workers.items()
                             if name not in restarted},
                 latencies, get_failures, cpu)


def report(args: argparse.Namespace, burst: Burst) -> int:
    """Print the figures and the targets; 1 when a run did not complete."""
    creation, samples, before = burst.creation, burst.samples, burst.before
    created = len(creation.created)
    last_created = creation.started + creation.seconds
    tail = burst.ended_at - last_created - args.delay
    not_completed = created - sum(n for status, _, n in burst.outcomes if status == "completed")
    print(f"\nResults ({args.shape}: {len(burst.workers)} runs processes; N = {args.runs}, "
          f"D = {args.delay:g} s)")
    print(f"  creation: {created} runs in {creation.seconds:.1f} s = "
          f"{created / max(1e-9, creation.seconds):.0f} runs/s over {args.clients} "
          f"connections; {len(creation.errors)} failed"
          + (f", e.g. {creation.errors[0]}" if creation.errors else ""))
    print(f"  peak in flight at the model server: {burst.peak_in_flight}; peak open model "
          "connections: " + ", ".join(f"{name} {max(s.connections[name] for s in samples)}"
                                      for name in burst.workers))
    if burst.finished:
        print(f"  last run ended {burst.ended_at - last_created:.1f} s after the last "
              f"creation: D + {tail:.1f} s")
    else:
        print(f"  runs still active at the timeout, {burst.ended_at - last_created:.1f} s after "
              f"the last creation: D + more than {tail:.1f} s")
    print("  runs by status (and error code): " + ", ".join(
        f"{status}{f' ({code})' if code else ''} {n}" for status, code, n in burst.outcomes))
    per_run: list[float] = []
    for name in burst.workers:
        peak_rss = max(s.rss[name] for s in samples)
        held = max(s.connections[name] for s in samples)
        added = peak_rss - before.rss[name]
        if held:
            per_run.append(added / held)
        print(f"  {name}: RSS {before.rss[name] / 1024:.0f} MB before, peak "
              f"{peak_rss / 1024:.0f} MB (VmHWM {burst.hwm.get(name, 0) / 1024:.0f} MB): "
              f"+{added / 1024:.1f} MB"
              + (f" = {added / held:.0f} KB per in-flight run ({held} held)" if held else "")
              + ("; RESTARTED during the burst" if name in burst.restarted else ""))
    print(f"  Postgres connections: {before.postgres} before, peak "
          f"{max(s.postgres for s in samples)}")
    latencies = [seconds for _, seconds in burst.latencies]
    p99 = 1000 * percentile(latencies, 99)
    print(f"  GET /v1/assistants/{{id}} during the burst (every "
          f"{1000 * GET_INTERVAL:.0f} ms): "
          f"{len(latencies)} requests, p50 {1000 * percentile(latencies, 50):.1f} ms, p99 "
          f"{p99:.1f} ms, max {1000 * max(latencies, default=0):.1f} ms, "
          f"{burst.get_failures} failed")
    # Which stage of the burst the slow GETs fall in: the API creating, the runs waiting on
    # the model's first token, or the runs streaming their answers.
    stages = (("creating", creation.started, last_created),
              ("waiting for the first token", last_created, last_created + args.delay),
              ("streaming", last_created + args.delay, burst.ended_at))
    for name, start, end in stages:
        during = [seconds for at, seconds in burst.latencies if start <= at < end]
        if during:
            print(f"    while {name}: {len(during)} requests, p50 "
                  f"{1000 * percentile(during, 50):.1f} ms, p99 "
                  f"{1000 * percentile(during, 99):.1f} ms")
    cpu = burst.cpu
    print(f"  CPU over the {burst.ended_at - creation.started:.0f} s burst: machine "
          f"{100 * cpu['machine']:.0f}% of all {os.cpu_count()} CPUs; model server "
          f"{100 * cpu['model server']:.0f}% of one, this bench "
          f"{100 * cpu['this bench']:.0f}% of one")

    print("\nTargets (defaults, N = 2,000, D = 30 s, this 2-core machine):")
    verdict("peak in flight", burst.peak_in_flight, TARGET_IN_FLIGHT, False, "runs")
    verdict("last end after the last creation - D" + ("" if burst.finished else " (>)"), tail,
            TARGET_TAIL_SECONDS, True, "s")
    verdict("runs not completed", not_completed, 0, True, "runs")
    verdict("RSS per in-flight run (worst)", max(per_run, default=float("nan")),
            TARGET_RSS_KB, True, "KB")
    verdict("API GET p99 during the burst", p99, TARGET_GET_P99_MS, True, "ms")
    return 1 if not_completed or creation.errors else 0


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    limit = raise_file_limit()
    overrides = sorted(f"{k}={v}" for k, v in os.environ.items()
                       if k.startswith("TREADLE_") and not k.startswith("TREADLE_TEST_"))
    print(f"Treadle concurrency benchmark: shape {args.shape}, N = {args.runs} runs, first "
          f"token after D = {args.delay:g} s, {TOKENS}-token answers (chunk delay "
          f"{args.chunk_delay_ms:g} ms), {args.clients} creating connections, "
          f"{os.cpu_count()} CPUs, file limit {limit}\nTREADLE_* in the environment: "
          f"{', '.join(overrides) or 'none'}", flush=True)
    folder = data_dir()
    try:
        with model_server(folder) as (model_base, model_pid), \
                platform(args.shape, f"{model_base}/v1", folder) as up:
            return report(args, run_burst(args, up, up.key(), model_base, model_pid))
    finally:
        remove(folder)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything it started is stopped", file=sys.stderr)
        sys.exit(130)
