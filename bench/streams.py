"""Open event streams held by one API process, and what they cost the other requests.

Opens N server-sent event streams (default 5,000) against one API process
(TREADLE_API_WORKERS=1) from one asyncio process (httpx), and keeps them open; then prints:

- how long the opening took and how many streams failed or ended early;
- p50/p99 latency of GET /v1/assistants/{id}, sent one after another from a process of its
  own, first while the streams only idle (keep-alive comments flowing), then while events
  are broadcast to them;
- p50/p99 latency of one event reaching every listener: every second an entry is appended
  to (and announced on) each followed run's stream in one pipeline, timed from just before
  the pipeline is sent to each listener's reading of it (this process's clock at both ends:
  the client's own event loop, busy with every stream, is in the figure);
- the API worker's resident memory, its open files, and the Redis connections it holds.

    .venv/bin/python bench/streams.py [--streams 5000] [--runs N] [--duration 10]
                                      [--redis-db 12]

Each stream is one `POST /v1/threads/runs` with `stream: true` (a run on a new thread), or,
with --runs R below N, R such streams plus N - R `GET .../runs/{id}/events` listeners spread
over their runs (--runs 1: every listener on one run, the pure fan-out). No runs worker is
started, so runs stay queued and their streams quiet, as behind a slow model.

It serves Treadle itself (bench/serving.py: a throwaway database, Redis database --redis-db,
the model server and `treadle api`). Each stream holds a socket in this process and in the
API process, so both need a file descriptor limit above N: the soft limit is raised here to
the hard limit, which the API process inherits.

Targets (this 2-core machine): >= 5,000 open streams per API process, and other requests'
p99 <= 100 ms while they are open. Exits 0 whether they are met or not, 1 when streams failed.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import multiprocessing
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
import redis.asyncio
from serving import serving

from shared.runs.relay import CLIENT_NAME as RELAY_CLIENT_NAME
from shared.runs.relay import announce
from shared.storage import redis_keys

REDIS_BASE = "redis://127.0.0.1:6379"
TARGET_STREAMS = 5_000
TARGET_P99_MS = 100.0
# Streams being opened at once: enough to keep the API busy, few enough not to time out.
OPENING = 64
PING = "bench.ping"
CLIENT_NAME = "bench-streams"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=TARGET_STREAMS,
                        help="streams to open and hold")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs the streams follow (default: one each)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of each measured phase (idle, broadcast)")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database index to use")
    args = parser.parse_args()
    args.runs = args.streams if args.runs is None else args.runs
    if not 1 <= args.runs <= args.streams or args.duration <= 0:
        parser.error("need 1 <= --runs <= --streams and a positive --duration")
    return args


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def raise_file_limit(streams: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 2 * streams + 1024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


# --------------------------------------------------------------------------- other requests

def timed_gets(url: str, key: str, path: str, seconds: float, out: Any) -> None:
    """In a process of its own: GET `path` one after another on one keep-alive connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        failed += response.status != 200
    out.put((latencies, failed))


def measure_gets(url: str, key: str, path: str, seconds: float) -> tuple[Any, Any]:
    results: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=timed_gets, args=(url, key, path, seconds, results))
    process.start()
    return process, results


def report_gets(label: str, measured: tuple[Any, Any]) -> float:
    # Read before joining: the measuring process exits only once its results are taken.
    process, results = measured
    latencies, failed = results.get()
    process.join()
    p99 = 1000 * percentile(latencies, 99)
    print(f"  GET /v1/assistants/{{id}} ({label}): {len(latencies)} requests, "
          f"p50 {1000 * percentile(latencies, 50):.1f} ms, p99 {p99:.1f} ms, "
          f"max {1000 * max(latencies):.1f} ms, failed {failed}", flush=True)
    return p99


# --------------------------------------------------------------------------- streams

@dataclass
class Listener:
    run_id: str = ""
    thread_id: str = ""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    # Arrival times of each ping, by the ping's number.
    pings: dict[int, float] = field(default_factory=dict)
    ended: str | None = None


async def hold(http: httpx.AsyncClient, listener: Listener, request: httpx.Request) -> None:
    """Read one stream until the bench ends it; note its run and every ping's arrival."""
    event = ""
    try:
        response = await http.send(request, stream=True)
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            listener.ended = f"status {response.status_code}: {body[:200]}"
            listener.opened.set()
            return
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == PING:
                    listener.pings[json.loads(line[6:])] = time.perf_counter()
                elif event == "thread.run.created":
                    data = json.loads(line[6:])
                    listener.run_id, listener.thread_id = data["id"], data["thread_id"]
                elif event == "thread.run.queued":
                    listener.opened.set()
        listener.ended = "ended by the server"
    except (httpx.HTTPError, OSError) as error:
        listener.ended = f"{type(error).__name__}: {error}"
    finally:
        listener.opened.set()


async def open_streams(http: httpx.AsyncClient, assistant_id: str, streams: int, runs: int
                       ) -> tuple[list[Listener], list[asyncio.Task[None]]]:
    listeners = [Listener() for _ in range(streams)]
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(OPENING)

    async def open_one(index: int) -> None:
        async with gate:
            listener = listeners[index]
            if index < runs:
                request = http.build_request("POST", "/v1/threads/runs", json={
                    "assistant_id": assistant_id, "stream": True,
                    "thread": {"messages": [{"role": "user", "content": "hello"}]}})
            else:
                followed = listeners[index % runs]
                listener.run_id, listener.thread_id = followed.run_id, followed.thread_id
                request = http.build_request(
                    "GET", f"/v1/threads/{followed.thread_id}/runs/{followed.run_id}/events")
            tasks.append(asyncio.create_task(hold(http, listener, request)))
            await listener.opened.wait()

    # The runs first: the listeners beyond them need their ids.
    await asyncio.gather(*(open_one(i) for i in range(runs)))
    await asyncio.gather(*(open_one(i) for i in range(runs, streams)))
    return listeners, tasks


async def broadcast(redis_url: str, listeners: list[Listener], seconds: float
                    ) -> tuple[list[float], list[float], int]:
    """One ping a second to every followed run; each delivery's latency, each ping's last
    delivery, and the deliveries missing at the end."""
    client = redis.asyncio.Redis.from_url(redis_url)
    run_ids = sorted({listener.run_id for listener in listeners})
    sent: dict[int, float] = {}
    number = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pipe = client.pipeline(transaction=False)
        for run_id in run_ids:
            stream = redis_keys.run_events(run_id)
            pipe.xadd(stream, {"e": PING, "d": str(number)})
            announce(pipe, stream)
        sent[number] = time.perf_counter()
        await pipe.execute()
        number += 1
        await asyncio.sleep(1.0)
    await asyncio.sleep(2.0)
    await client.aclose()
    each = [listener.pings[n] - sent[n] for listener in listeners for n in sent
            if n in listener.pings]
    last = [max(listener.pings[n] for listener in listeners if n in listener.pings) - sent[n]
            for n in sent if any(n in listener.pings for listener in listeners)]
    missing = len(sent) * len(listeners) - len(each)
    return each, last, missing


# --------------------------------------------------------------------------- the API process

def api_worker(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def process_figures(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    files = len(os.listdir(f"/proc/{pid}/fd"))
    limit = next(line.split()[3] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                 if line.startswith("Max open files"))
    return f"RSS {rss / 1024:.0f} MB, open files {files} (soft limit {limit})"


def redis_connections(redis_url: str) -> str:
    """The connections to this deployment's Redis database but this bench's own: the API's
    (its stream relay's by their name) and the broker's."""
    client = redis.Redis.from_url(redis_url, client_name=CLIENT_NAME)
    try:
        names = [entry["name"] for entry in client.client_list()
                 if entry["db"] == redis_url.rsplit("/", 1)[1] and entry["name"] != CLIENT_NAME]
    finally:
        client.close()
    return f"{len(names)}, of which the stream relay's {names.count(RELAY_CLIENT_NAME)}"


async def scenario(stack: Any, args: argparse.Namespace, redis_url: str) -> int:
    limits = httpx.Limits(max_connections=args.streams + 64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.url, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {stack.key}"}) as http:
        made = await http.post("/v1/assistants", json={"model": "test-model", "name": "bench"})
        assistant_id = made.json()["id"]
        path = f"/v1/assistants/{assistant_id}"
        worker = api_worker(stack.processes["api"].pid)

        started = time.perf_counter()
        listeners, tasks = await open_streams(http, assistant_id, args.streams, args.runs)
        opening = time.perf_counter() - started
        failed = [listener.ended for listener in listeners if listener.ended]
        print(f"\n{args.streams - len(failed)} of {args.streams} streams open over {args.runs} "
              f"runs in {opening:.1f} s ({args.streams / opening:.0f}/s); failed {len(failed)}"
              + (f", e.g. {failed[0]}" if failed else ""), flush=True)
        print(f"  API worker (pid {worker}): {process_figures(worker)}; Redis connections "
              f"(API and broker): {redis_connections(redis_url)}", flush=True)

        idle = measure_gets(stack.url, stack.key, path, args.duration)
        idle_p99 = await asyncio.to_thread(report_gets, "streams idle", idle)

        during = measure_gets(stack.url, stack.key, path, args.duration)
        each, last, missing = await broadcast(redis_url, listeners, args.duration)
        busy_p99 = await asyncio.to_thread(report_gets, "broadcasting", during)
        print(f"  one event to every listener: {len(each)} deliveries, p50 "
              f"{1000 * percentile(each, 50):.1f} ms, p99 {1000 * percentile(each, 99):.1f} ms; "
              f"last listener p50 {1000 * percentile(last, 50):.1f} ms; missing {missing}",
              flush=True)
        ended = [listener.ended for listener in listeners if listener.ended]
        print(f"  streams still open: {args.streams - len(ended)}; "
              f"API worker: {process_figures(worker)}", flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    held = args.streams - len(ended)
    print("\nTargets (2-core machine):")
    verdicts = [("open streams per API process", held, TARGET_STREAMS, False, ""),
                ("GET p99, streams idle", idle_p99, TARGET_P99_MS, True, "ms"),
                ("GET p99, broadcasting", busy_p99, TARGET_P99_MS, True, "ms")]
    for label, value, target, at_most, unit in verdicts:
        met = value <= target if at_most else value >= target
        print(f"  {label:<32}{value:>9.1f} {unit:<3} target {'<=' if at_most else '>='} "
              f"{target:>6.0f} {unit:<3} {'PASS' if met else 'MISS'}")
    return 1 if ended or missing else 0


def main() -> int:
    args = parse_args()
    limit = raise_file_limit(args.streams)
    redis_url = f"{REDIS_BASE}/{args.redis_db}"
    with serving(redis_url, ingest=False, api_workers=1) as stack:
        print(f"Treadle streams benchmark: API {stack.url} (TREADLE_API_WORKERS=1, pid "
              f"{stack.processes['api'].pid}), {os.cpu_count()} CPUs, file limit {limit}",
              flush=True)
        return asyncio.run(scenario(stack, args, redis_url))


if __name__ == "__main__":
    sys.exit(main())
