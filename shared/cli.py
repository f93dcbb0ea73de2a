"""The `treadle` command: serve, migrate and manage keys."""
# First of all: the API and a runs worker run under gevent, which must patch the standard library
# before any other module is imported (see shared/platform/greenlets.py).
from shared.platform.greenlets import GEVENT_POOL, patch_for_command

patch_for_command()

import atexit
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from shared.config import export, get_settings


def _embedded(postgres: bool = True, redis: bool = True) -> None:
    """Serve, from the data directory, each of Postgres and Redis whose URL is unset, and
    point this process (and so the processes it starts) at it. The services this process
    started stop when it exits; under `treadle up` the URLs are set and nothing starts."""
    from shared.platform.embedded import start

    settings = get_settings()
    postgres = postgres and settings.embedded_postgres
    redis = redis and settings.embedded_redis
    if settings.supervised:
        _die_with_parent()
    if not (postgres or redis):
        return
    embedded = start(settings.data_dir, postgres=postgres, redis_server=redis,
                     broker=settings.broker_url is None)
    export(embedded.environment)
    pid = os.getpid()
    # Only here: a gunicorn worker forked from this process exits through atexit too.
    atexit.register(lambda: embedded.stop() if os.getpid() == pid else None)


@click.group(help="Treadle: a self-hosted OpenAI Assistants API (v2) platform.")
def main() -> None:
    pass


@main.command(help="Apply pending database migrations (safe to run on every start), showing "
              "each as it lands. Uses the embedded PostgreSQL when TREADLE_DATABASE_URL is unset.")
def migrate() -> None:
    from shared.storage.migrate import ensure_database, pending
    from shared.storage.migrate import migrate as apply

    _embedded(redis=False)
    url = get_settings().database_url
    ensure_database(url)
    waiting = pending(url)
    if not waiting:
        click.echo("database is up to date")
        return
    with click.progressbar(length=len(waiting), label="migrating", show_pos=True,
                           item_show_func=lambda v: v) as bar:
        applied = apply(url, on_applied=lambda version: bar.update(1, version))
    click.echo(f"applied: {', '.join(applied)}")


@main.group(help="Manage API keys.")
def keys() -> None:
    pass


@keys.command("create", help="Create an API key for a project (made if new); prints the key last.")
@click.option("--project", required=True, help="Project name; its objects are the key's scope.")
def keys_create(project: str) -> None:
    from shared.projects.api_keys import create_key

    _embedded(redis=False)
    click.echo(f"project: {project}")
    click.echo(create_key(project))


@keys.command("revoke", help="Revoke an API key; requests with it get 401 from then on.")
@click.argument("key")
def keys_revoke(key: str) -> None:
    from shared.projects.api_keys import revoke_key

    _embedded(redis=False)
    if not revoke_key(key):
        raise click.ClickException("no active key matches")
    click.echo("revoked")


def _serve_api(host: str, port: int, workers: int) -> None:
    from gunicorn import util
    from gunicorn.app.base import BaseApplication

    from shared.platform.embedded import socket_path
    from shared.platform.logs import dict_config

    settings = get_settings()

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                # gevent lets one process hold many long-lived event streams; this subclass
                # answers the requests gunicorn refuses itself (414, 431) as OpenAI errors.
                "worker_class": "api.server.Worker",
                "worker_connections": settings.api_worker_connections,
                # Longer than clients' pools keep idle connections (httpx and Node: 5 s), so
                # the server never closes one a client is about to reuse (nginx and ALBs: 75).
                "keepalive": 75,
                # gunicorn's ceiling, so ids up to 8 KB reach the app and get its answers.
                "limit_request_line": 8190,
                "accesslog": None,
                "logger_class": "api.server.Logger",
                "logconfig_dict": dict_config(),
                "timeout": 120,
                "graceful_timeout": 10,
                # Its control socket in the data directory: two instances never share one.
                "control_socket": str(socket_path(settings.data_dir.resolve(), "gunicorn.ctl")),
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # By module path: the CLI starts the API door, it does not import it.
            return util.import_app("api.wsgi:app")

    _Server().run()


def _raise_open_files_limit() -> None:
    """Every open stream is a socket: let the API (its clients' streams) and a runs worker
    (its model streams) hold as many as the hard limit allows (the usual soft limit of 1,024
    would refuse connections past about a thousand)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@main.command(help="Serve the API with gunicorn (gevent workers).")
@click.option("--host", default=None, help="Bind address (TREADLE_API_HOST).")
@click.option("--port", type=int, default=None, help="Port (TREADLE_API_PORT).")
@click.option("--workers", type=int, default=None, help="Processes (TREADLE_API_WORKERS).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    _embedded()
    _raise_open_files_limit()
    settings = get_settings()
    _serve_api(host or settings.api_host, port or settings.api_port,
               workers or settings.api_workers)


POOLS = ("runs", "ingest", "sandbox", "timers")


@main.command(help="Start one Celery worker pool: runs (model calls and the tool loop), "
              "ingest, sandbox or timers (expiry and recovery).")
@click.option("--pool", "pool", type=click.Choice(POOLS), required=True)
@click.option("--concurrency", type=int, default=None,
              help="Tasks at once in this worker (default: TREADLE_RUNS_CONCURRENCY greenlets "
              "for runs, 4 threads else).")
@click.option("--name", default=None,
              help="Node name (default: the pool's), unique per process on one host.")
@click.option("--loglevel", default="INFO")
def worker(pool: str, concurrency: int | None, name: str | None, loglevel: str) -> None:
    import socket

    from shared.platform import logs, metrics, worker_shutdown
    from shared.platform.tasks import app

    cooperative = pool == GEVENT_POOL
    if cooperative:
        from shared.storage import db, redis

        settings = get_settings()
        # Each run in flight holds a model stream; thousands of sockets need the file limit.
        _raise_open_files_limit()
        # Thousands of runs share a few dozen connections, each held for one statement or
        # transaction; a run that finds them all busy waits for one rather than failing.
        db.set_pool_timeout(settings.runs_db_pool_timeout_seconds)
        redis.share_connections(settings.runs_redis_connections)
    _embedded()
    settings = get_settings()
    logs.install_worker_hooks()
    node = f"{name or pool}@{socket.gethostname()}"
    metrics.install_worker_hooks(node)
    worker_shutdown.install_worker_hooks(settings.worker_shutdown_grace_seconds)
    slots = concurrency or (settings.runs_concurrency if cooperative else 4)
    if cooperative:
        metrics.set_runs_capacity(slots)
        # Every run acknowledges its task on the consumer's Redis pool, which refuses a
        # caller past its limit (10) rather than making it wait: room for all of them.
        app.conf.broker_transport_options = {"max_connections": slots + 10}
    # The ingest pool owns the vector engine, so it also answers searches.
    queues = "ingest,search" if pool == "ingest" else pool
    app.worker_main(["worker", "--queues", queues,
                     "--pool", "gevent" if cooperative else "threads",
                     "--concurrency", str(slots), "--hostname", node,
                     "--loglevel", loglevel, "--without-gossip", "--without-mingle"])


@main.command(help="Start the timer scheduler (Celery beat) that drives the timers pool.")
@click.option("--loglevel", default="INFO")
def scheduler(loglevel: str) -> None:
    from shared.platform import logs
    from shared.platform.tasks import app

    _embedded()
    logs.install_worker_hooks()
    data = get_settings().data_dir
    data.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--schedule", str(data / "celerybeat-schedule"), "--loglevel", loglevel])


@main.command(help="Start Flower, the Celery dashboard, on the same broker.")
@click.option("--port", type=int, default=5555)
@click.option("--address", default="127.0.0.1", help="Bind address (0.0.0.0 in a container).")
def flower(port: int, address: str) -> None:
    from shared.platform.tasks import app

    _embedded()
    app.start(["flower", f"--port={port}", f"--address={address}"])


def _die_with_parent() -> None:
    """A SIGTERM when the parent process dies, even by SIGKILL, so no process of a
    supervised platform outlives its supervisor (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _instance_lock(data: Path, patience: float, stopping: Callable[[], bool]) -> int | None:
    """One `treadle up` per data directory. A previous one may still be stopping: its
    supervisor holds this lock until its last process has exited, so waiting for the lock
    is waiting for it, and a new instance never adopts services that are going away."""
    import fcntl
    import time

    fd = os.open(data / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + patience
    waiting = False
    while not stopping():
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.set_inheritable(fd, True)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise click.ClickException(f"another `treadle up` serves {data}") from None
            if not waiting:
                click.echo(f"Waiting for the `treadle up` serving {data} to stop...")
                waiting = True
            time.sleep(0.1)
    return None


def _platform(settings: Any) -> list[Any]:
    import sys

    from shared.platform.supervisor import PLATFORM, Program

    # One runs process is held to one core by its interpreter lock; more use the others.
    # The timers fire every second; their logs stay quiet unless something goes wrong.
    commands = {"api": ["api"],
                **{f"runs-{n}": ["worker", "--pool", "runs", "--name", f"runs-{n}"]
                   for n in range(1, settings.runs_processes + 1)},
                "ingest": ["worker", "--pool", "ingest"],
                "sandbox": ["worker", "--pool", "sandbox"],
                "timers": ["worker", "--pool", "timers", "--loglevel", "WARNING"],
                "scheduler": ["scheduler", "--loglevel", "WARNING"]}
    # Runs workers hand their runs back within their grace period; what still hangs after
    # this is killed, and its runs come back when their leases lapse.
    stop_seconds = settings.worker_shutdown_grace_seconds + 25
    return [Program(name=name, command=[sys.executable, "-m", "shared.cli", *command],
                    group=PLATFORM, stop_seconds=stop_seconds,
                    environment={"TREADLE_SUPERVISED": "1"})
            for name, command in commands.items()]


def _sandbox_preparation(settings: Any) -> list[Any]:
    """bubblewrap's sandbox prepared once in the background, when it is the one to use
    (no Docker engine named) and is not ready, and this host can prepare it (root, apt);
    otherwise nothing, with one line on what to run when it is not ready. The sandbox pool
    itself says which backend runs code once one can."""
    import shutil

    from shared.platform.supervisor import PLATFORM, Program

    if settings.sandbox == "docker" or settings.sandbox_docker_host is not None or (
            shutil.which("bwrap") and settings.sandbox_rootfs.exists()):
        return []
    script = Path(__file__).resolve().parents[1] / "deploy" / "sandbox" / "prepare.sh"
    if os.geteuid() == 0 and shutil.which("apt-get") and script.exists():
        click.echo("code_interpreter: preparing the bubblewrap sandbox in the background "
                   "(a few minutes the first time); the sandbox pool logs when it is ready.")
        return [Program(name="sandbox-prepare", command=["bash", str(script), "--bwrap-only"],
                        group=PLATFORM, once=True)]
    click.echo("code_interpreter is off until a sandbox is prepared here: run "
               "`sudo make sandbox` once.")
    return []


class _Up:
    """One `treadle up`: supervisord and what it runs, started again if supervisord dies."""

    def __init__(self, settings: Any, postgres: bool, redis: bool) -> None:
        self.settings = settings
        # The instance lock's descriptor, which supervisord inherits and holds.
        self.lock = -1
        # Which services to embed, decided before their URLs were exported.
        self.postgres, self.redis = postgres, redis
        self.data: Path = settings.data_dir.resolve()
        self.folder = self.data / "supervisor"
        self.process: Any = None
        self.stopping = False

    def stop(self, *_: Any) -> None:
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def serve(self) -> int:
        """Start supervisord with the services, wait for them, migrate, start the platform,
        and wait until supervisord exits; returns its exit code."""
        import subprocess
        import sys
        import time

        from shared.platform import embedded, supervisor

        settings = self.settings
        embedded.stop_strays(self.data)
        services = embedded.services(self.data, postgres=self.postgres, redis_server=self.redis)
        programs = [supervisor.Program(name=s.name, command=s.command, group=supervisor.SERVICES,
                                       user=s.user, stop_signal=s.stop_signal, stop_seconds=30,
                                       log=s.log, keep_output=s.log is not None)
                    for s in services] + _platform(settings) + _sandbox_preparation(settings)
        config = supervisor.write_config(self.folder, programs)
        # A session of its own keeps the terminal's Ctrl-C away: this process turns it into
        # one SIGTERM, on which supervisord stops the platform, then the services.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            pass_fds=(self.lock,), start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 120
        while not all(s.ready() for s in services):
            if self.process.poll() is not None or self.stopping:
                return int(self.process.wait())
            if time.monotonic() > deadline:
                self.stop()
                self.process.wait()
                raise click.ClickException(
                    f"the embedded services did not start; see {self.folder}")
            time.sleep(0.1)
        try:
            self._prepare()
        except Exception:
            # Told to stop while migrating: the services went away under it.
            if self.stopping:
                return int(self.process.wait())
            raise
        while not self.stopping and self.process.poll() is None:
            try:
                supervisor.start_group(self.folder, supervisor.PLATFORM)
                break
            except OSError:
                time.sleep(0.1)
        click.echo(f"Serving the API on http://{settings.api_host}:{settings.api_port}/v1 "
                   "(docs at /docs); Ctrl-C stops everything.")
        return int(self.process.wait())

    def _prepare(self) -> None:
        from shared.projects.api_keys import any_key_exists, create_key
        from shared.storage.db import close_pool
        from shared.storage.migrate import migrate as apply

        apply(self.settings.database_url)
        if not any_key_exists():
            key = create_key("default")
            click.echo("First start: an API key for project 'default' (shown only now):")
            click.echo(f"  {key}")
        close_pool()


@main.command(help="Everything on this machine under one supervisor: migrate, print a first "
              "API key if none exists, start the API, every worker pool and the scheduler, "
              "and start again any that exits; for each of TREADLE_DATABASE_URL and "
              "TREADLE_REDIS_URL not set, serve an embedded PostgreSQL or Redis from "
              "TREADLE_DATA_DIR. Ctrl-C (or SIGTERM) stops all.")
def up() -> None:
    import signal
    import time

    from shared.platform import embedded

    settings = get_settings()
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    postgres, redis = settings.embedded_postgres, settings.embedded_redis
    settings = export(embedded.environment(data, postgres, redis, settings.broker_url is None))
    instance = _Up(settings, postgres, redis)
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), instance.stop)
    lock = _instance_lock(data, settings.worker_shutdown_grace_seconds + 90,
                          lambda: instance.stopping)
    if lock is None:
        return
    instance.lock = lock
    backoff = 1.0
    while not instance.stopping:
        started = time.monotonic()
        code = instance.serve()
        if instance.stopping:
            break
        # supervisord itself died: its processes get their parent-death signal, and the
        # services it ran are stopped as strays before the next start.
        backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)
        click.echo(f"The supervisor exited ({code}); starting again in {backoff:.0f} s.", err=True)
        time.sleep(backoff)
    embedded.stop_strays(data)


@main.command(help="Report the platform's health: Postgres, Redis and the broker reachable, "
              "runs in flight and capacity per runs worker, migrations applied, tasks waiting "
              "per queue, workers answering a ping, runs by "
              "status and files waiting to be indexed. Exits 1 when anything is down or a "
              "migration is pending.")
@click.option("--timeout", type=float, default=1.0, show_default=True,
              help="Seconds to wait for workers to answer the ping.")
def status(timeout: float) -> None:
    from shared.platform import metrics
    from shared.platform import status as ps
    from shared.storage.migrate import pending

    _embedded()
    healthy = True

    def line(name: str, value: object) -> None:
        click.echo(f"{name:<22}{value}")

    checks = {"postgres": ps.check_postgres(), "redis": ps.check_redis(),
              "broker": ps.check_broker()}
    for name, result in checks.items():
        line(name, result)
        healthy = healthy and result == "ok"
    if checks["redis"] == "ok":
        flying = metrics.runs_in_flight()
        line("runs in flight", ", ".join(f"{process} {count}/{capacity}" for process, (
            count, capacity) in flying.items()) or "no runs worker")
    if checks["postgres"] == "ok":
        waiting = pending(get_settings().database_url)
        line("migrations", f"pending: {', '.join(waiting)}" if waiting else "all applied")
        healthy = healthy and not waiting
        if not waiting:
            runs = ps.runs_by_status()
            line("runs", ", ".join(f"{k} {v}" for k, v in sorted(runs.items())) or "none")
            line("ingest backlog", ps.ingest_backlog())
    if checks["broker"] == "ok":
        depths = ps.queue_depths()
        line("queues", ", ".join(f"{q} {'-' if n is None else n}" for q, n in depths.items()))
        online = ps.workers_online(timeout)
        line("workers", ", ".join(online) if online else "none answered")
    if not healthy:
        raise SystemExit(1)


@main.group(help="Files, outside the API.")
def files() -> None:
    pass


@files.command("upload", help="Upload every file below DIR (hidden ones left out) into the "
               "vector store's project and add each to the store, which queues its indexing "
               "on the ingest pool. Shows a progress bar; --wait then follows the indexing. "
               "Exits 1 if any file was refused or failed to index.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--vector-store", "vector_store_id", required=True,
              help="The vector store (vs_...) to add the files to.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Wait until the ingest pool has indexed every file.")
@click.option("--wait-timeout", type=float, default=600.0, show_default=True,
              help="Seconds --wait waits at most.")
def files_upload(directory: Path, vector_store_id: str, wait: bool,
                 wait_timeout: float) -> None:
    import time

    from shared.errors import TreadleError
    from shared.vector_stores import directory_upload as bulk

    _embedded()
    try:
        project = bulk.store_project(vector_store_id)
    except TreadleError as error:
        raise click.ClickException(error.message) from error
    paths = bulk.files_in(directory)
    if not paths:
        raise click.ClickException(f"no files in {directory}")
    done: list[bulk.Uploaded] = []
    refused: list[bulk.Uploaded] = []
    with click.progressbar(bulk.upload(project, vector_store_id, paths), length=len(paths),
                           label="uploading", show_pos=True,
                           item_show_func=lambda r: r.path.name if r else None) as bar:
        for result in bar:
            (done if result.file_id else refused).append(result)
    for result in refused:
        click.echo(f"refused {result.path}: {result.error}", err=True)
    click.echo(f"uploaded {len(done)} file(s) to {vector_store_id}; indexing queued")
    failed = 0
    if wait and done:
        ids = [r.file_id for r in done if r.file_id]
        deadline = time.monotonic() + wait_timeout
        with click.progressbar(length=len(ids), label="indexing", show_pos=True) as bar:
            states = bulk.ingest_states(vector_store_id, ids)
            while states.get("in_progress", 0) and time.monotonic() < deadline:
                bar.update(len(ids) - states.get("in_progress", 0) - bar.pos)
                time.sleep(0.25)
                states = bulk.ingest_states(vector_store_id, ids)
            bar.update(len(ids) - states.get("in_progress", 0) - bar.pos)
        failed = len(ids) - states.get("completed", 0)
        click.echo(", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    if refused or failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
