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


@main.command(help="Migrate, print a first API key if none exists, and serve everything.")
def up() -> None:
    from shared.db import close_pool
    from shared.keys import any_key_exists, create_key
    from shared.migrate import migrate as apply

    settings = get_settings()
    apply(settings.database_url)
    if not any_key_exists():
        key = create_key("default")
        click.echo("First start: an API key for project 'default' (shown only now):")
        click.echo(f"  {key}")
    # The workers are forked from this process and must open their own connections.
    close_pool()
    click.echo(f"Serving the API on http://{settings.api_host}:{settings.api_port}/v1 "
               f"(docs at /docs)")
    _serve_api(settings.api_host, settings.api_port, settings.api_workers)


if __name__ == "__main__":
    main()
