"""The `treadle` command: serve, migrate and manage keys."""
from typing import Any

import click

from shared.config import get_settings


@click.group(help="Treadle: a self-hosted OpenAI Assistants API (v2) platform.")
def main() -> None:
    pass


@main.command(help="Apply pending database migrations (safe to run on every start).")
def migrate() -> None:
    from shared.migrate import migrate as apply

    applied = apply(get_settings().database_url)
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@main.group(help="Manage API keys.")
def keys() -> None:
    pass


@keys.command("create", help="Create an API key for a project (made if new); prints the key last.")
@click.option("--project", required=True, help="Project name; its objects are the key's scope.")
def keys_create(project: str) -> None:
    from shared.keys import create_key

    click.echo(f"project: {project}")
    click.echo(create_key(project))


@keys.command("revoke", help="Revoke an API key; requests with it get 401 from then on.")
@click.argument("key")
def keys_revoke(key: str) -> None:
    from shared.keys import revoke_key

    if not revoke_key(key):
        raise click.ClickException("no active key matches")
    click.echo("revoked")


def _serve_api(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    settings = get_settings()

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                # gevent lets one process hold many long-lived event streams.
                "worker_class": "gevent",
                "worker_connections": settings.api_worker_connections,
                "accesslog": None,
                "timeout": 120,
                "graceful_timeout": 10,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from api.app import create_app

            return create_app()

    _Server().run()


@main.command(help="Serve the API with gunicorn (gevent workers).")
@click.option("--host", default=None, help="Bind address (TREADLE_API_HOST).")
@click.option("--port", type=int, default=None, help="Port (TREADLE_API_PORT).")
@click.option("--workers", type=int, default=None, help="Processes (TREADLE_API_WORKERS).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    settings = get_settings()
    _serve_api(host or settings.api_host, port or settings.api_port,
               workers or settings.api_workers)


POOLS = ("runs", "ingest", "sandbox", "timers")


@main.command(help="Start one Celery worker pool: runs (model calls and the tool loop), "
              "ingest, sandbox or timers (expiry and recovery).")
@click.option("--pool", "pool", type=click.Choice(POOLS), required=True)
@click.option("--concurrency", type=int, default=None,
              help="Threads in this worker (default: TREADLE_RUNS_CONCURRENCY for runs, 4 else).")
@click.option("--loglevel", default="INFO")
def worker(pool: str, concurrency: int | None, loglevel: str) -> None:
    from shared.queue import app

    threads = concurrency or (get_settings().runs_concurrency if pool == "runs" else 4)
    # The ingest pool owns the vector engine, so it also answers searches.
    queues = "ingest,search" if pool == "ingest" else pool
    app.worker_main(["worker", "--queues", queues, "--pool", "threads",
                     "--concurrency", str(threads), "--hostname", f"{pool}@%h",
                     "--loglevel", loglevel, "--without-gossip", "--without-mingle"])


@main.command(help="Start the timer scheduler (Celery beat) that drives the timers pool.")
@click.option("--loglevel", default="INFO")
def scheduler(loglevel: str) -> None:
    from shared.queue import app

    data = get_settings().data_dir
    data.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--schedule", str(data / "celerybeat-schedule"), "--loglevel", loglevel])


@main.command(help="Start Flower, the Celery dashboard, on the same broker.")
@click.option("--port", type=int, default=5555)
def flower(port: int) -> None:
    from shared.queue import app

    app.start(["flower", f"--port={port}", "--address=127.0.0.1"])


@main.command(help="Migrate, print a first API key if none exists, and start the API, the "
              "runs and timers pools and the scheduler on this machine; Ctrl-C stops all.")
def up() -> None:
    import signal
    import subprocess
    import sys

    from shared.db import close_pool
    from shared.keys import any_key_exists, create_key
    from shared.migrate import migrate as apply

    settings = get_settings()
    apply(settings.database_url)
    if not any_key_exists():
        key = create_key("default")
        click.echo("First start: an API key for project 'default' (shown only now):")
        click.echo(f"  {key}")
    close_pool()
    # The timers fire every second; their logs stay quiet unless something goes wrong.
    commands = [["api"], ["worker", "--pool", "runs"], ["worker", "--pool", "ingest"],
                ["worker", "--pool", "sandbox"],
                ["worker", "--pool", "timers", "--loglevel", "WARNING"],
                ["scheduler", "--loglevel", "WARNING"]]
    children = [subprocess.Popen([sys.executable, "-m", "shared.cli", *c]) for c in commands]
    click.echo(f"Serving the API on http://{settings.api_host}:{settings.api_port}/v1 "
               "(docs at /docs); Ctrl-C stops everything.")

    def stop(*_: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            signal.sigtimedwait([signal.SIGCHLD], 1.0)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
