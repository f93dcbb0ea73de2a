"""Prometheus metrics of the whole deployment, served by any API replica at `GET /metrics`.

Why Redis rather than prometheus_client's multiprocess mode: that mode shares a directory of
memory-mapped files, so it covers the processes of one host only, while Treadle's API
replicas and worker pools run in separate containers and on separate hosts. So each process
adds up its counters and histograms in memory and a background thread adds them into one
Redis hash every second (HINCRBYFLOAT, so processes never overwrite each other); whichever
replica is scraped reads the hash and renders it with prometheus_client. Counters reset only
if Redis loses the hash, which Prometheus treats like a process restart.

Figures that Postgres or the broker already hold (runs by status, queue depth, ingest
backlog) are read when scraped, never counted twice. Gauges only a process knows (sandbox
sessions, a runs worker's runs in flight and capacity) are republished by it every second
and, while fresh, summed (sandbox sessions) or shown per process (runs).
"""
import atexit
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from shared.storage import redis_keys
from shared.storage.redis import get_redis

log = logging.getLogger(__name__)

# Counters outlive a quiet month; the gauges' hash goes soon after its processes do.
SERIES_TTL = 30 * 24 * 3600
GAUGE_FRESH_SECONDS = 15
FLUSH_SECONDS = 1.0

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# name -> (type, help, buckets for histograms)
FAMILIES: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "treadle_http_requests": (
        "counter", "API requests by method, route template and status code.", ()),
    "treadle_http_request_duration_seconds": (
        "histogram", "API request latency to the first response byte, by method and route.",
        HTTP_BUCKETS),
    "treadle_tasks": ("counter", "Celery tasks finished, by task name and state.", ()),
    "treadle_task_duration_seconds": (
        "histogram", "Celery task run time, by task name.", SLOW_BUCKETS),
    "treadle_model_call_duration_seconds": (
        "histogram", "Chat Completions calls to the model endpoint, by outcome.",
        SLOW_BUCKETS),
}

Labels = tuple[tuple[str, str], ...]

# Gauges shown per process (label `process`: the worker's node name) rather than summed.
PER_PROCESS_GAUGES = {
    "treadle_runs_in_flight": "Runs a runs worker is executing now, by process.",
    "treadle_runs_capacity": "Runs a runs worker may execute at once, by process.",
}


class _Recorder:
    """This process's additions since the last flush, and its own gauges."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Held from taking the pending figures until Redis has them, so a scrape that flushes
        # first never reads the store while the background flush is halfway.
        self.flushing = threading.Lock()
        # Keyed by (name, labels) tuples; serialised only when flushed, off the request path.
        self.pending: dict[tuple[str, Labels], float] = defaultdict(float)
        self.gauges: dict[str, float] = {}
        self.flusher: threading.Thread | None = None
        self.pid = 0
        # Names this process's gauges; a worker's node name when it is one.
        self.publisher = f"{socket.gethostname()}:{os.getpid()}"

    def add(self, name: str, labels: Labels, amount: float) -> None:
        with self.lock:
            self.pending[name, labels] += amount
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        # Started on first use in each process (gunicorn forks after importing this).
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.flusher = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
            self.flusher.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:
                # Metrics must never take a process down; the figures wait for the next try.
                continue

    def flush(self) -> None:
        with self.flushing:
            self._flush()

    def _flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, defaultdict(float)
            gauges = dict(self.gauges)
        if not pending and not gauges:
            return
        pipe = get_redis().pipeline(transaction=False)
        for (name, labels), amount in pending.items():
            pipe.hincrbyfloat(redis_keys.METRIC_SERIES, json.dumps([name, labels]), amount)
        pipe.expire(redis_keys.METRIC_SERIES, SERIES_TTL)
        for name, value in gauges.items():
            pipe.hset(redis_keys.METRIC_GAUGES, json.dumps([name, self.publisher]),
                      json.dumps([value, time.time()]))
        if gauges:
            pipe.expire(redis_keys.METRIC_GAUGES, 4 * GAUGE_FRESH_SECONDS)
        try:
            pipe.execute()
        except Exception:
            with self.lock:
                for series, amount in pending.items():
                    self.pending[series] += amount
            raise


_recorder = _Recorder()


def _labels(**values: str) -> Labels:
    return tuple(sorted(values.items()))


def inc(name: str, amount: float = 1.0, **labels: str) -> None:
    _recorder.add(name + "_total", _labels(**labels), amount)


def observe(name: str, seconds: float, **labels: str) -> None:
    base = _labels(**labels)
    # Only the one bucket the value falls in is stored; rendering makes them cumulative.
    bucket = next((str(b) for b in FAMILIES[name][2] if seconds <= b), "+Inf")
    _recorder.add(name + "_bucket", (*base, ("le", bucket)), 1)
    _recorder.add(name + "_sum", base, seconds)


def set_gauge(name: str, value: float) -> None:
    """A figure only this process knows; summed over live processes when scraped."""
    with _recorder.lock:
        _recorder.gauges[name] = value
    _recorder._ensure_flusher()


def _add_to_gauge(name: str, amount: float) -> None:
    with _recorder.lock:
        _recorder.gauges[name] = _recorder.gauges.get(name, 0.0) + amount
    _recorder._ensure_flusher()


def set_runs_capacity(slots: int) -> None:
    """A runs worker's concurrency: how many runs it may hold at once."""
    set_gauge("treadle_runs_capacity", slots)
    _add_to_gauge("treadle_runs_in_flight", 0)


@contextlib.contextmanager
def run_in_flight() -> Iterator[None]:
    """Counts a run as in flight in this process while the block runs."""
    _add_to_gauge("treadle_runs_in_flight", 1)
    try:
        yield
    finally:
        _add_to_gauge("treadle_runs_in_flight", -1)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    inc("treadle_http_requests", method=method, route=route, status=str(status))
    observe("treadle_http_request_duration_seconds", seconds, method=method, route=route)


def observe_model_call(seconds: float, outcome: str) -> None:
    """One Chat Completions call: `outcome` is ok, error, cancelled or abandoned (the worker
    lost the lease or is stopping, and another repeats the call)."""
    observe("treadle_model_call_duration_seconds", seconds, outcome=outcome)


def set_sandbox_sessions(count: int) -> None:
    """The sandbox pool's live sessions in this process."""
    set_gauge("treadle_sandbox_sessions", count)


def flush() -> None:
    """Write this process's pending figures now (the scraped replica does, before reading)."""
    _recorder.flush()


def install_worker_hooks(node: str) -> None:
    """In a Celery worker named `node`: count every task and time it, from Celery's own
    signals; the worker's gauges carry its node name."""
    from celery.signals import task_postrun, task_prerun, worker_shutdown

    _recorder.publisher = node
    started: dict[str, float] = {}

    def on_prerun(task_id: str = "", **_: Any) -> None:
        started[task_id] = time.monotonic()

    def on_postrun(task_id: str = "", task: Any = None, state: str | None = None,
                   **_: Any) -> None:
        began = started.pop(task_id, None)
        name = getattr(task, "name", "unknown")
        inc("treadle_tasks", task=name, state=state or "UNKNOWN")
        if began is not None:
            observe("treadle_task_duration_seconds", time.monotonic() - began, task=name)

    def on_shutdown(**_: Any) -> None:
        flush()

    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)


def _stored_series() -> Iterator[tuple[str, Labels, float]]:
    raw: Any = get_redis().hgetall(redis_keys.METRIC_SERIES)
    for field, value in raw.items():
        name, labels = json.loads(field)
        yield name, tuple((k, v) for k, v in labels), float(value)


def stored_gauges() -> dict[str, dict[str, float]]:
    """Each gauge's fresh values, by the process that published them."""
    raw: Any = get_redis().hgetall(redis_keys.METRIC_GAUGES)
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for field, stored in raw.items():
        name, publisher = json.loads(field)
        value, at = json.loads(stored)
        if time.time() - at <= GAUGE_FRESH_SECONDS:
            found[name][publisher] = value
    return found


def runs_in_flight() -> dict[str, tuple[int, int]]:
    """Per runs worker (its node name): the runs it executes now and the most it may hold,
    as each published them within the last few seconds."""
    gauges = stored_gauges()
    flying = gauges.get("treadle_runs_in_flight", {})
    return {process: (int(flying.get(process, 0)), int(capacity))
            for process, capacity in sorted(gauges.get("treadle_runs_capacity", {}).items())}


class DeploymentCollector:
    """Renders the stored series and reads the scrape-time figures."""

    def collect(self) -> Iterable[Metric]:
        # Each source may be down on its own; what the others hold is still served, and
        # treadle_metrics_source_up says which part is missing (never a 500 for a scrape).
        up = GaugeMetricFamily("treadle_metrics_source_up",
                               "1 when this scrape could read the source, 0 when it failed.",
                               labels=["source"])
        for source, read in (("redis", self._stored), ("postgres", self._postgres),
                             ("broker", self._broker)):
            try:
                families = list(read())
            except Exception:
                log.warning("metrics: could not read %s", source, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _stored(self) -> Iterator[Metric]:
        series = list(_stored_series())
        for name, (kind, text, _) in FAMILIES.items():
            if kind == "counter":
                counter = None
                for stored, labels, value in series:
                    if stored != name + "_total":
                        continue
                    if counter is None:
                        counter = CounterMetricFamily(name, text, labels=[k for k, _ in labels])
                    counter.add_metric([v for _, v in labels], value)
                if counter is not None:
                    yield counter
            else:
                yield from _histogram(name, text, series)
        gauges = stored_gauges()
        yield GaugeMetricFamily("treadle_sandbox_sessions", "Live code sandbox sessions.",
                                value=sum(gauges.get("treadle_sandbox_sessions", {}).values()))
        for name, text in PER_PROCESS_GAUGES.items():
            family = GaugeMetricFamily(name, text, labels=["process"])
            for process, value in sorted(gauges.get(name, {}).items()):
                family.add_metric([process], value)
            yield family

    def _postgres(self) -> Iterator[Metric]:
        from shared.platform import status as platform_status

        runs = GaugeMetricFamily("treadle_runs", "Runs by status.", labels=["status"])
        for status, count in sorted(platform_status.runs_by_status().items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily("treadle_ingest_backlog",
                                "Vector store files waiting to be indexed.",
                                value=platform_status.ingest_backlog())

    def _broker(self) -> Iterator[Metric]:
        from shared.platform import status as platform_status

        depth = GaugeMetricFamily("treadle_queue_depth", "Tasks waiting in each broker queue.",
                                  labels=["queue"])
        for queue, waiting in platform_status.queue_depths().items():
            if waiting is not None:
                depth.add_metric([queue], waiting)
        yield depth


def _histogram(name: str, text: str, series: list[tuple[str, Labels, float]]
               ) -> Iterator[Metric]:
    groups: dict[Labels, dict[str, Any]] = defaultdict(lambda: {"buckets": {}, "sum": 0.0})
    for stored, labels, value in series:
        if stored == name + "_bucket":
            base = tuple(p for p in labels if p[0] != "le")
            groups[base]["buckets"][dict(labels)["le"]] = value
        elif stored == name + "_sum":
            groups[labels]["sum"] = value
    if not groups:
        return
    first = next(iter(groups))
    family = HistogramMetricFamily(name, text, labels=[k for k, _ in first])
    bounds = [*(str(b) for b in FAMILIES[name][2]), "+Inf"]
    for labels, group in groups.items():
        total, buckets = 0.0, []
        for bound in bounds:
            total += group["buckets"].get(bound, 0.0)
            buckets.append((bound, total))
        family.add_metric([v for _, v in labels], buckets, group["sum"])
    yield family


def render() -> bytes:
    """The Prometheus text exposition of the whole deployment."""
    with contextlib.suppress(Exception):
        # Redis down: these figures wait in memory for the next flush.
        flush()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeploymentCollector())
    return generate_latest(registry)
