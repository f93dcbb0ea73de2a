"""REST throughput and latency of a Treadle server at a fixed number of connections.

Prints requests/s, p50 and p99 latency and the count of failed responses per scenario,
and whether reading one assistant meets the target of >= 2,000 GET/s with p99 <= 20 ms
on the project's 2-core machine.

    .venv/bin/python bench/rest.py [--url http://127.0.0.1:8000] [--key KEY]
                                   [--duration 10] [--connections 16]

Without --url the script serves Treadle itself: a fresh database `treadle_bench_<random>`
on the local Postgres, `treadle migrate`, a key from `treadle keys create --project bench`
and `treadle api` on a free port (TREADLE_API_WORKERS sets its processes, default 2);
the server is stopped and the database dropped afterwards. With --url, --key is needed.

The load comes from `wrk` (optional; `apt-get install -y wrk`), which runs in its own
process and costs little CPU per request. Without it a Python generator is used (processes
of threads on keep-alive connections); it spends far more CPU per request than wrk, and
on a 2-core machine that CPU is taken from the server, so its figures are lower bounds.

The machine's 2 cores are shared with anything else running on it; the column 'other CPU'
says what share of them processes outside the benchmark (load, server, its database
backends) took during each scenario, so that skewed figures can be told apart. It needs
the server started here and reads n/a with --url.

Exits 0 whether the target is met or missed (this measures, it does not test) and 1 when
any request failed, since then the figures do not describe successful requests.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from processes import stop

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RPS = 2_000
TARGET_P99_MS = 20.0
WARMUP_SECONDS = 2
# Above this share of the CPUs taken by other processes during a scenario, its figures are low.
BUSY_OTHERS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PYTHON_PROCESSES = 2
LIST_SIZE = 20
# Marks the line the wrk Lua `done` hook prints, so it can be told apart from wrk's report.
WRK_MARK = "TREADLE_RESULT"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: bytes | None = None
    auth: bool = True


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # HTTP status >= 400 (wrk's "Non-2xx or 3xx responses")
    socket_errors: int  # connect, read, write errors and timeouts

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Server:
    url: str
    key: str
    pid: int | None = None  # the gunicorn master, when this script started it
    database: str | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server; without it one is started here")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    args = parser.parse_args()
    if args.url and not args.key:
        parser.error("--url needs --key")
    if args.connections < 1 or args.duration <= 0:
        parser.error("--connections and --duration must be positive")
    return args


def treadle_command() -> str:
    """The `treadle` of the interpreter running this script, so bench and server match."""
    return str(Path(sys.executable).parent / "treadle")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def busy_seconds() -> float:
    """CPU time all cores have spent busy since boot, from /proc/stat."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def process_stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (state first); empty once it has gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def process_seconds(pid: int) -> float:
    """CPU time of one process and its threads."""
    fields = process_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def server_seconds(server: Server) -> dict[int, float]:
    """CPU time of the gunicorn master, its workers and the bench database's backends."""
    assert server.pid is not None
    running = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    pids = {server.pid} | {pid for pid in running
                           if process_stat(pid)[1:2] == [str(server.pid)]}
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        pids.update(row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (server.database,)))
    return {pid: process_seconds(pid) for pid in pids}


def own_seconds() -> float:
    """CPU time of this script and its finished children: wrk or the Python load processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def others_share(server: Server, share: list[float]) -> Iterator[None]:
    """Measure the share of all CPUs that processes outside the benchmark used meanwhile.

    The machine has 2 cores, so a test run or build beside the benchmark lowers its figures
    a lot; this tells a reader which figures to distrust. Appends the share to `share`.
    """
    served = server_seconds(server)
    started, busy, own = time.monotonic(), busy_seconds(), own_seconds()
    yield
    ours = own_seconds() - own + sum(seconds - served.get(pid, 0.0)
                                     for pid, seconds in server_seconds(server).items())
    elapsed = (time.monotonic() - started) * (os.cpu_count() or 1)
    share.append(max(0.0, busy_seconds() - busy - ours) / elapsed)


def call(url: str, key: str | None, method: str, path: str, body: Any = None) -> Any:
    """One JSON request for setting up; any failure stops the benchmark."""
    request = urllib.request.Request(url + path, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, data=data, timeout=10) as response:
        return json.load(response)


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode}")
        try:
            call(url, None, "GET", "/health")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s")


@contextmanager
def local_server() -> Iterator[Server]:
    """Serve Treadle on a throwaway database."""
    database = f"treadle_bench_{secrets.token_hex(4)}"
    env = dict(os.environ, TREADLE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{database}")
    treadle = treadle_command()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        subprocess.run([treadle, "migrate"], env=env, check=True, capture_output=True)
        created = subprocess.run([treadle, "keys", "create", "--project", "bench"], env=env,
                                 check=True, capture_output=True, text=True)
        key = created.stdout.strip().splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            # Own session, so a hung server can be killed as a group with its workers.
            server = subprocess.Popen([treadle, "api", "--host", "127.0.0.1", "--port", str(port)],
                                      env=env, stdout=log, stderr=log, start_new_session=True)
            try:
                wait_healthy(url, server)
                yield Server(url, key, server.pid, database)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            finally:
                stop(server)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def prepare(url: str, key: str) -> list[Scenario]:
    """Create what the scenarios read and write, so every request hits an existing object."""
    assistant_ids = [
        call(url, key, "POST", "/v1/assistants",
             {"model": "gpt-4o", "name": f"bench {i}", "instructions": "Be brief."})["id"]
        for i in range(LIST_SIZE)
    ]
    thread_id = call(url, key, "POST", "/v1/threads", {})["id"]
    message = json.dumps({"role": "user", "content": "hello"}).encode()
    return [
        Scenario("GET /health (no auth, no DB)", "GET", "/health", auth=False),
        Scenario("GET /v1/assistants/{id}", "GET", f"/v1/assistants/{assistant_ids[0]}"),
        Scenario(f"GET /v1/assistants?limit={LIST_SIZE}", "GET",
                 f"/v1/assistants?limit={LIST_SIZE}"),
        Scenario("POST /v1/threads/{id}/messages", "POST",
                 f"/v1/threads/{thread_id}/messages", body=message),
    ]


def headers(scenario: Scenario, key: str) -> dict[str, str]:
    result = {"Authorization": f"Bearer {key}"} if scenario.auth else {}
    if scenario.body is not None:
        result["Content-Type"] = "application/json"
    return result


def wrk_script(scenario: Scenario, key: str) -> str:
    """Lua that shapes the request and prints exact percentiles from wrk's own histogram."""
    lines = [f"wrk.method = {json.dumps(scenario.method)}"]
    if scenario.body is not None:
        lines.append(f"wrk.body = {json.dumps(scenario.body.decode())}")
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}"
              for k, v in headers(scenario, key).items()]
    lines.append(f"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{WRK_MARK} %d %d %.1f %.1f %d %d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end""")
    return "\n".join(lines)


def run_wrk(url: str, key: str, scenario: Scenario, duration: int,
            connections: int) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(wrk_script(scenario, key))
        script.flush()
        threads = max(1, min(connections, os.cpu_count() or 1))
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
             "-s", script.name, url + scenario.path],
            capture_output=True, text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    line = next(line for line in done.stdout.splitlines() if line.startswith(WRK_MARK))
    requests, duration_us, p50_us, p99_us, failed, socket_errors = line.split()[1:]
    return Result(int(requests), int(duration_us) / 1e6, float(p50_us) / 1000,
                  float(p99_us) / 1000, int(failed), int(socket_errors))


def _connection_loop(url: str, scenario: Scenario, request_headers: dict[str, str],
                     deadline: float) -> tuple[list[float], int, int]:
    """One keep-alive connection sending requests back to back until the deadline."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    latencies: list[float] = []
    failed = socket_errors = 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn.request(scenario.method, scenario.path, body=scenario.body,
                         headers=request_headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            socket_errors += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
        failed += response.status >= 400
    conn.close()
    return latencies, failed, socket_errors


def _process_loop(url: str, scenario: Scenario, request_headers: dict[str, str],
                  deadline: float, threads: int) -> tuple[list[float], int, int]:
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(lambda _: _connection_loop(url, scenario, request_headers,
                                                            deadline), range(threads)))
    return ([latency for latencies, _, _ in outcomes for latency in latencies],
            sum(o[1] for o in outcomes), sum(o[2] for o in outcomes))


def percentile_ms(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of latencies in seconds, in milliseconds."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def run_python(url: str, key: str, scenario: Scenario, duration: int,
               connections: int) -> Result:
    """Fallback load from several processes, since one process is held back by the GIL."""
    processes = min(PYTHON_PROCESSES, connections)
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    # CLOCK_MONOTONIC is system-wide on Linux, so one deadline holds across processes.
    deadline = time.monotonic() + duration
    started = time.monotonic()
    with multiprocessing.Pool(processes) as pool:
        outcomes = pool.starmap(_process_loop, [(url, scenario, headers(scenario, key),
                                                 deadline, share) for share in shares])
    seconds = time.monotonic() - started
    latencies = sorted(latency for part, _, _ in outcomes for latency in part)
    return Result(len(latencies), seconds, percentile_ms(latencies, 50),
                  percentile_ms(latencies, 99), sum(o[1] for o in outcomes),
                  sum(o[2] for o in outcomes))


def benchmark(server: Server, duration: int, connections: int, workers: str) -> int:
    """Run every scenario, print the table and the target verdict; 1 if any request failed."""
    runner = run_wrk if shutil.which("wrk") else run_python
    if runner is run_python:
        print("wrk not found: using the Python load generator, whose own CPU use lowers the "
              "figures.\nFor the real figures: apt-get install -y wrk\n")
    url, key = server.url, server.key
    scenarios = prepare(url, key)
    # Fill each worker's connection pool before measuring.
    runner(url, key, scenarios[1], WARMUP_SECONDS, connections)
    print(f"Treadle REST benchmark: {url}, {connections} connections, {duration} s per "
          f"scenario, load: {'wrk' if runner is run_wrk else 'python'}, "
          f"server workers: {workers}, {os.cpu_count()} CPUs")
    print(f"{'scenario':<36}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'non-2xx/3xx':>13}{'socket err':>12}{'other CPU':>11}")
    results: dict[str, Result] = {}
    others: list[float] = []
    for scenario in scenarios:
        # Other processes' CPU can only be told apart from the server's when it runs here.
        with others_share(server, others) if server.pid else nullcontext():
            result = runner(url, key, scenario, duration, connections)
        results[scenario.name] = result
        other = f"{others[-1]:.0%}" if server.pid else "n/a"
        print(f"{scenario.name:<36}{result.rps:>12,.0f}{result.p50_ms:>9.1f}"
              f"{result.p99_ms:>9.1f}{result.failed:>13}{result.socket_errors:>12}{other:>11}",
              flush=True)
    get = results[scenarios[1].name]
    met = get.rps >= TARGET_RPS and get.p99_ms <= TARGET_P99_MS
    print(f"\nTarget: >= {TARGET_RPS:,} GET/s with p99 <= {TARGET_P99_MS:.0f} ms "
          f"on this 2-core machine")
    print(f"{scenarios[1].name}: {get.rps:,.0f} req/s, p99 {get.p99_ms:.1f} ms -> "
          f"{'PASS' if met else 'MISS'}")
    if any(share > BUSY_OTHERS for share in others):
        print(f"WARNING: other processes took over {BUSY_OTHERS:.0%} of the CPUs during some "
              "scenarios (column 'other CPU'); their figures are too low. Run on a quiet "
              "machine.")
    failures = sum(r.failed + r.socket_errors for r in results.values())
    if failures:
        print(f"\nWARNING: {failures} requests failed; the figures above are not valid.")
        return 1
    print("All responses were 2xx/3xx.")
    return 0


def main() -> int:
    args = parse_args()
    if args.url:
        return benchmark(Server(args.url.rstrip("/"), args.key), args.duration,
                         args.connections, "external")
    with local_server() as server:
        return benchmark(server, args.duration, args.connections,
                         os.environ.get("TREADLE_API_WORKERS", "2"))


if __name__ == "__main__":
    sys.exit(main())
