"""Network round trips per run of the runs worker, to Postgres, to Redis and to the broker.

Serves Treadle as bench/runs.py does (one runs worker), with Celery's broker on a Redis
server of its own (started here on a free port, stopped after) so the broker's traffic is
told apart from the runs' own Redis work. Makes the threads first, then traces the runs
worker with strace while N sequential streamed runs (one-chunk answer, no tools; or
`--api responses`) complete, and prints per run, for each service, the round trips: a
round trip is a burst of writes on a socket up to the next read of an answer on it (so a
pipeline, however many commands it holds, counts once), with the syscalls themselves. Before
the traced runs, as many untraced ones give the runs worker's CPU time per run (user and
system, from /proc; strace would inflate it).

    TREADLE_BENCH_REDIS=redis://127.0.0.1:6379 \
    .venv/bin/python bench/roundtrips.py [--api runs|responses] [--runs 50] [--redis-db 14]

The trace is `strace -f -yy -e trace=<socket I/O> -e status=successful -p <runs worker pid>`
(every thread); the figures include what the worker does meanwhile besides the runs (lease
renewals, metrics flushes: a few per second at most), so the runs' own share is a little
less. Prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from processes import stop_on_sigterm
from runs import (
    APIS,
    INSTRUCTIONS,
    MODEL,
    ONE_CHUNK,
    _cpu,
    deployment,
    make_client,
    streamed,
)
from serving import free_port

POSTGRES_PORT = 5432
SENDS = frozenset({"sendto", "sendmsg", "write", "writev"})
RECEIVES = frozenset({"recvfrom", "recvmsg", "read", "readv"})
# `-yy` shows a socket as 7<TCP:[127.0.0.1:40000->127.0.0.1:5432]>.
CALL = re.compile(r"^(?:\d+ +)?(?P<name>\w+)\((?P<fd>\d+)<TCP:\[[^\]]*->[^\]]*:(?P<port>\d+)\]>")
RESUMED = re.compile(r"^(?:(?P<pid>\d+) +)?<\.\.\. (?P<name>\w+) resumed>.*= (?P<ret>-?\d+)")
UNFINISHED = re.compile(r"^(?:(?P<pid>\d+) +)?.*<unfinished \.\.\.>$")
RESULT = re.compile(r"= (?P<ret>-?\d+)(?: \w+ \(.*\))?$")


@dataclass
class Tally:
    """Per service: round trips and the send and receive syscalls behind them."""
    trips: Counter[str] = field(default_factory=Counter)
    sends: Counter[str] = field(default_factory=Counter)
    receives: Counter[str] = field(default_factory=Counter)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=tuple(APIS), default="runs")
    parser.add_argument("--runs", type=int, default=50, help="runs traced")
    parser.add_argument("--redis-db", type=int, default=14)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be positive")
    return args


def count(trace: Path, services: dict[int, str]) -> Tally:
    """Round trips per service: a socket's sends count one trip until an answer is read."""
    tally = Tally()
    answered: dict[tuple[str, int], bool] = {}
    pending: dict[str, tuple[str, int, int]] = {}  # pid -> (call, fd, port) unfinished
    for line in trace.read_text(errors="replace").splitlines():
        resumed = RESUMED.match(line)
        if resumed:
            held = pending.pop(resumed["pid"] or "", None)
            if held is None:
                continue
            name, fd, port = held
            ret = int(resumed["ret"])
        else:
            call = CALL.match(line)
            if call is None:
                continue
            name, fd, port = call["name"], int(call["fd"]), int(call["port"])
            if UNFINISHED.match(line):
                pid = line.split(" ", 1)[0] if line[0].isdigit() else ""
                pending[pid] = (name, fd, port)
                continue
            result = RESULT.search(line)
            if result is None:
                continue
            ret = int(result["ret"])
        service = services.get(port)
        if service is None or ret <= 0:
            continue
        # A socket's fd may be reused by a later connection to another service.
        key = (service, fd)
        if name in SENDS:
            tally.sends[service] += 1
            if answered.get(key, True):
                tally.trips[service] += 1
            answered[key] = False
        elif name in RECEIVES:
            tally.receives[service] += 1
            answered[key] = True
    return tally


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    broker = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    import redis
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return broker, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    broker.kill()
    raise RuntimeError("the broker's redis-server did not start")


def trace_runs(args: argparse.Namespace, broker_url: str, broker_port: int) -> None:
    api = APIS[args.api]
    with deployment(args.redis_db, 1, broker_url) as deploy:
        client = make_client(deploy.url + "/v1", deploy.key)
        assistant_id = client.beta.assistants.create(model=MODEL, name="bench",
                                                     instructions=INSTRUCTIONS).id
        targets = [next(iter(api.targets(client, ONE_CHUNK.content, 1, 1)))
                   for _ in range(2 * args.runs + 5)]
        # Warm up: the worker's connections opened, its scripts loaded, code imported.
        for target in targets[:5]:
            streamed(api, client, target, assistant_id)
        worker = deploy.processes["runs worker 1"].pid
        before = _cpu(worker)
        for target in targets[5:args.runs + 5]:
            streamed(api, client, target, assistant_id)
        after = _cpu(worker)
        assert before is not None and after is not None
        user, system = ((b - a) * 1000 / args.runs for a, b in zip(before, after, strict=True))
        redis_port = int(deploy.redis_url.rsplit(":", 1)[1].split("/")[0])
        services = {POSTGRES_PORT: "postgres", redis_port: "redis", broker_port: "broker"}
        with tempfile.NamedTemporaryFile(prefix="treadle_trips_", suffix=".strace") as out:
            tracer = subprocess.Popen(
                ["strace", "-f", "-yy", "-qq", "-e", "trace=" + ",".join(SENDS | RECEIVES),
                 "-e", "status=successful,unfinished", "-o", out.name, "-p", str(worker)],
                stderr=subprocess.PIPE)
            time.sleep(1.0)  # attached to every thread
            began = time.monotonic()
            for target in targets[args.runs + 5:]:
                streamed(api, client, target, assistant_id)
            # The worker's last writes (its ack, the lease release) land after the client
            # saw the end.
            time.sleep(0.5)
            elapsed = time.monotonic() - began
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=10)
            tally = count(Path(out.name), services)
    print(f"{api.name}: {args.runs} sequential streamed {api.noun}s (one-chunk answer), "
          f"runs worker pid {worker}, traced {elapsed:.1f} s")
    print(f"  runs worker CPU per run (untraced): {user + system:.2f} ms "
          f"(user {user:.2f}, system {system:.2f}; clock ticks of 10 ms, so indicative)")
    print(f"  {'service':<10}{'trips/run':>10}{'sends/run':>11}{'reads/run':>11}")
    for service in ("postgres", "redis", "broker"):
        print(f"  {service:<10}{tally.trips[service] / args.runs:>10.2f}"
              f"{tally.sends[service] / args.runs:>11.2f}"
              f"{tally.receives[service] / args.runs:>11.2f}")


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="treadle_trips_broker_"))
    broker, broker_url = start_broker(workdir)
    try:
        trace_runs(args, broker_url, int(broker_url.rsplit(":", 1)[1].split("/")[0]))
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
