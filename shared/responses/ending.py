"""What a response's end writes, in the same transaction as its run's terminal move
(`shared/runs/lifecycle` calls `record_end` wherever a run ends): the output items, the
input and output appended to its conversation, and, for a response made with
`store: false`, its rows deleted. The run's terminal events are published after that commit
from the rows in hand, with the output ahead of the terminal event, so a client waiting on
the stream still gets the whole answer."""
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from shared.conversations.service import append_items
from shared.errors import NotFoundError
from shared.items.wire import INCLUDABLE
from shared.responses import outputs, repository
from shared.responses.stream import OUTPUT_EVENT
from shared.storage.db import Conn


def is_response(run_id: str) -> bool:
    return run_id.startswith("resp_")


def record_end(conn: Conn, run: dict[str, Any],
               reads: Callable[[], repository.EndRows] | None = None) -> list[tuple[str, Any]]:
    """The writes, and the event that carries the output to the response's stream (ahead
    of the run's terminal event: for an unstored response the stream is all that is left).
    `reads`: `repository.read_for_end`'s, sent already in the same transaction after the
    run's terminal move and what it closed."""
    response, steps, messages = (reads or repository.read_for_end(conn, run["id"]))()
    if response is None:
        return []
    if response["output"] is not None:
        return [(OUTPUT_EVENT, {"output": response["output"]})]
    output = outputs.output_items(steps, messages, INCLUDABLE)
    if response["conversation_id"] is not None:
        # A conversation deleted while the response ran has nothing to append to. The output
        # is stored as the conversation has it: an item whose id is taken there gets a new
        # one (the input keeps its ids: those of the items it referenced, say).
        with suppress(NotFoundError):
            appended = append_items(conn, response["project_id"], response["conversation_id"],
                                    [*response["input"], *output])
            output = appended[len(response["input"]):]
    repository.set_output(conn, run["id"], output)
    if not response["store"]:
        repository.forget(conn, run["id"])
    return [(OUTPUT_EVENT, {"output": output})]
