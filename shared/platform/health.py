"""`GET /v1/status`, the console's status page: a project's runs by status and the
deployment's health (the facts `treadle status` prints) in one answer that comes within about
STATUS_DEADLINE_SECONDS whatever is down."""
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from shared.config import get_settings
from shared.platform import metrics, status
from shared.runs import repository as runs
from shared.runs.states import ACTIVE, TERMINAL
from shared.storage.db import get_pool, ping
from shared.storage.migrate import pending
from shared.storage.redis import ping_now

# `GET /v1/status` answers within about this long whatever is down: a fact not read by then
# is shown as not read. Only a process's first request waits for a read; later ones are
# answered from the last read while a fresh one runs.
STATUS_DEADLINE_SECONDS = 1.25
# A ping broadcast waits this long for the workers' replies, however many answered.
WORKER_PING_SECONDS = 0.8
# The deployment's facts are the same for every project: an API process reads them at most
# this often, so a page refreshing every few seconds costs no broadcast per request.
FACTS_FRESH_SECONDS = 5.0
# A read older than this is not shown, even while the next one is still running.
FACTS_KEPT_SECONDS = 60.0


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"[:300]


Fields = tuple[dict[str, Any], dict[str, str]]


def _read_postgres() -> Fields:
    with get_pool().connection(timeout=status.POSTGRES_WAIT_SECONDS) as conn:
        ping(conn)
    waiting = pending(get_settings().database_url)
    if waiting:
        # The tables the backlog is counted in may be among what is not there yet.
        return ({"migrations_pending": waiting, "ingest_backlog": None},
                {"ingest_backlog": "migrations pending"})
    return {"migrations_pending": [], "ingest_backlog": status.ingest_backlog()}, {}


def _read_redis() -> Fields:
    ping_now()  # one try: a Redis that is down must not be waited out with retries
    flying = [{"process": process, "in_flight": count, "capacity": capacity}
              for process, (count, capacity) in metrics.runs_in_flight().items()]
    return {"runs_in_flight": flying}, {}


def _read_broker() -> Fields:
    status.ping_broker()
    return {"queues": status.queue_depths()}, {}


def _read_workers() -> Fields:
    # The broadcast needs the broker: a quick refusal rather than a publish retried at length.
    status.ping_broker()
    return {"workers": status.workers_online(WORKER_PING_SECONDS)}, {}


@dataclass(frozen=True)
class _Fact:
    read: Callable[[], Fields]
    fields: tuple[str, ...]
    service: bool


# Each a separate read, so a slow one (the broadcast) or a service that hangs holds up
# none of the others.
FACTS: dict[str, _Fact] = {
    "postgres": _Fact(_read_postgres, ("migrations_pending", "ingest_backlog"), service=True),
    "redis": _Fact(_read_redis, ("runs_in_flight",), service=True),
    "broker": _Fact(_read_broker, ("queues",), service=True),
    "workers": _Fact(_read_workers, ("workers",), service=False),
}


@dataclass(frozen=True)
class _Read:
    at: float
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _read(fact: _Fact) -> _Read:
    try:
        fields, errors = fact.read()
    except Exception as exc:
        return _Read(at=time.time(), error=_reason(exc))
    return _Read(at=time.time(), fields=fields, errors=errors)


class _Facts:
    """The deployment's facts as this process last read them. Each is read in the background
    at most every FACTS_FRESH_SECONDS and by one thread at a time, so requests never pile up
    behind a service that hangs; a request waits for a read (until its deadline) only when
    none recent is kept, and otherwise answers from the kept one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.executor: ThreadPoolExecutor | None = None
        self.reads: dict[str, tuple[Future[_Read], float]] = {}
        self.kept: dict[str, _Read] = {}

    def start(self) -> dict[str, Future[_Read]]:
        """The read of each fact: its last one while fresh or still going, else a new one."""
        with self.lock:
            if self.executor is None or self.pid != os.getpid():
                # A forked process has its parent's pool object but none of its threads.
                self.pid = os.getpid()
                self.executor = ThreadPoolExecutor(len(FACTS), thread_name_prefix="status")
                self.reads, self.kept = {}, {}
            now = time.monotonic()
            for name, fact in FACTS.items():
                current = self.reads.get(name)
                if current is None or (current[0].done()
                                       and now - current[1] >= FACTS_FRESH_SECONDS):
                    self.reads[name] = (self.executor.submit(_read, fact), now)
            return {name: future for name, (future, _) in self.reads.items()}

    def collect(self, started: dict[str, Future[_Read]], deadline: float
                ) -> dict[str, _Read | None]:
        """Each fact's latest read: one still going is waited for (until `deadline`) only
        when no recent read is kept, so a refresh costs the request that starts it nothing."""
        with self.lock:
            self._keep(started)
            waiting = [future for name, future in started.items()
                       if not future.done() and self._recent(name) is None]
        wait(waiting, timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            self._keep(started)
            return {name: self._recent(name) for name in started}

    def _keep(self, started: dict[str, Future[_Read]]) -> None:
        for name, future in started.items():
            if future.done():
                self.kept[name] = future.result()

    def _recent(self, name: str) -> _Read | None:
        kept = self.kept.get(name)
        return kept if kept is not None and time.time() - kept.at <= FACTS_KEPT_SECONDS else None


_facts = _Facts()


def project_runs(project_id: str, timeout: float) -> dict[str, int]:
    """The project's runs by status, every status named (zero where it has none)."""
    with get_pool().connection(timeout=timeout) as conn:
        found = runs.count_project_by_status(conn, project_id)
    return {**dict.fromkeys((*ACTIVE, *TERMINAL), 0), **found}


def project_status(project_id: str) -> dict[str, Any]:
    """The project's runs by status and the deployment's health, `treadle status`'s facts,
    within about STATUS_DEADLINE_SECONDS whatever is down: what could not be read is null,
    with the reason in `errors` (a service's own in `services`), never a failed request."""
    deadline = time.monotonic() + STATUS_DEADLINE_SECONDS
    started = _facts.start()
    errors: dict[str, str] = {}
    counts: dict[str, int] | None = None
    try:
        counts = project_runs(project_id, STATUS_DEADLINE_SECONDS)
    except Exception as exc:
        errors["project.runs"] = _reason(exc)
    reads = _facts.collect(started, deadline)

    services: dict[str, dict[str, Any]] = {}
    deployment: dict[str, Any] = {}
    late = f"not read yet: no answer within {STATUS_DEADLINE_SECONDS:g} s, still trying"
    for name, fact in FACTS.items():
        read = reads[name]
        problem = late if read is None else read.error
        if fact.service:
            services[name] = {"ok": problem is None, "error": problem}
        for key in fact.fields:
            deployment[key] = read.fields.get(key) if read is not None else None
            reason = (read.errors.get(key) if read is not None and problem is None
                      else f"{name}: {problem}")
            if reason is not None:
                errors[f"deployment.{key}"] = reason
    times = [read.at for read in reads.values() if read is not None]
    healthy = (all(s["ok"] for s in services.values())
               and deployment["migrations_pending"] == [])
    return {
        "object": "status",
        "healthy": healthy,
        "project": {"id": project_id, "runs": counts},
        "deployment": {"checked_at": int(min(times)) if times else int(time.time()),
                       "services": services, **deployment},
        "errors": errors,
    }
