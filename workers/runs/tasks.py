"""Tasks of the runs pool: executing runs, and counting a would-be response's input tokens
(the pool builds a response's prompt)."""
import logging
from typing import Any

from celery import Task
from celery.signals import worker_ready

from shared.platform import metrics, tasks, worker_shutdown
from shared.platform.rpc import answer
from shared.platform.tasks import app
from shared.runs import lifecycle
from shared.runs.leases import LeaseBusyError
from shared.storage.db import reading
from workers import tokens
from workers.runs import prompt
from workers.runs.loop import drive_run

log = logging.getLogger(__name__)


@worker_ready.connect
def load_tokenizer(sender: Any = None, **kwargs: Any) -> None:
    """Load the tokenizer before the first run, not in it: loading it holds the process's
    one loop (every run it executes, and the renewal of their leases) for about half a
    second, longer on a loaded machine, as a worker taking over a crashed one's runs is."""
    if tasks.consumes(sender, tasks.RUNS_QUEUE):
        tokens.count("ready")


@app.task(name=tasks.EXECUTE_RUN, bind=True, max_retries=None)
def execute_run(self: Task, run_id: str, thread_id: str | None = None) -> None:
    if worker_shutdown.stopping():
        lifecycle.hand_back(run_id)
        return
    try:
        with metrics.run_in_flight():
            drive_run(run_id, thread_id)
    except LeaseBusyError as busy:
        raise self.retry(countdown=0.2) from busy


@app.task(name=tasks.COUNT_INPUT_TOKENS)
def count_input_tokens(channel: str, request_id: str, payload: dict[str, Any]) -> None:
    """`payload`: what `shared.responses.service.count_input_tokens` checked and resolved."""
    history = prompt.ResponseHistory(payload["previous_response_id"],
                                     payload["conversation_id"], payload["input"],
                                     payload["truncation"])
    try:
        with reading() as conn:
            counted = prompt.input_tokens(conn, payload["run"], history)
    except Exception:
        log.exception("counting input tokens failed")
        answer(channel, request_id, {"error": "The input tokens could not be counted."})
        return
    answer(channel, request_id, {"result": {"input_tokens": counted}})
