"""One logging setup for every Treadle process.

Lines are JSON (time, level, logger, message, plus request_id in the API and task_id and
run_id in workers) or, for a person at a terminal, text. The API's request id is the one
api/requests.py puts on `flask.g`; a worker's ids are set from Celery's task signals, so
neither the views nor the engine pass them around.
"""
import logging
import logging.config
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from shared.config import get_settings
from shared.platform.tasks import EXECUTE_RUN

task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
run_id: ContextVar[str | None] = ContextVar("run_id", default=None)

IDS = ("request_id", "task_id", "run_id")


def _request_id() -> str | None:
    # Only the API imports Flask; a worker never has a request.
    if "flask" not in sys.modules:
        return None
    from flask import g, has_request_context

    return g.get("request_id") if has_request_context() else None


class ContextFilter(logging.Filter):
    """Puts the ids of the request or task being served on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (("request_id", _request_id()), ("task_id", task_id.get()),
                            ("run_id", run_id.get())):
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{n}={getattr(record, n)}" for n in IDS if hasattr(record, n))
        return f"{line} [{ids}]" if ids else line


def json_formatter() -> logging.Formatter:
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"})


def formatter() -> logging.Formatter:
    chosen = get_settings().log_format
    if chosen == "auto":
        chosen = "text" if sys.stderr.isatty() else "json"
    return json_formatter() if chosen == "json" else TextFormatter()


def dict_config(level: str | int | None = None) -> dict[str, Any]:
    """The configuration for logging.config.dictConfig; gunicorn takes it as is."""
    quiet = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"treadle": {"()": formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "treadle", "filters": ["context"]}},
        "root": {"level": level or get_settings().log_level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"handlers": [], "propagate": True},
            # Access lines duplicate the request metrics; raise to INFO to have them.
            "gunicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},
            # Per-request chatter of the HTTP clients and the embedded database's wrapper.
            "httpx": quiet, "httpx2": quiet, "httpcore": quiet, "pgserver": quiet,
        },
    }


def configure(level: str | int | None = None) -> None:
    logging.config.dictConfig(dict_config(level))


def bind_task(task_name: str, identifier: str | None, args: Any) -> None:
    """Called as a task starts: its id, and the run it drives (its first argument)."""
    task_id.set(identifier)
    run_id.set(str(args[0]) if task_name == EXECUTE_RUN and args else None)


def unbind_task() -> None:
    task_id.set(None)
    run_id.set(None)


def install_worker_hooks() -> None:
    """In a Celery worker: this setup instead of Celery's, and the ids of each task."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    def on_setup(loglevel: str | int | None = None, **_: Any) -> None:
        configure(loglevel)

    def on_prerun(task_id: str | None = None, task: Any = None, args: Any = None,
                  **_: Any) -> None:
        bind_task(getattr(task, "name", ""), task_id, args)

    def on_postrun(**_: Any) -> None:
        unbind_task()

    setup_logging.connect(on_setup, weak=False)
    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
