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
from shared.ids import new_id
from shared.items.wire import INCLUDABLE
from shared.responses import outputs, repository
from shared.responses.stream import OUTPUT_EVENT
from shared.storage.db import Conn


def is_response(run_id: str) -> bool:
    return run_id.startswith("resp_")


def _unique(items: list[dict[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    """Item ids come from the model's call ids, which a careless model may repeat: an item
    whose id a conversation holds already, or an earlier item has, gets a new one."""
    unique = []
    for item in items:
        if item["id"] in taken:
            item = {**item, "id": new_id(item["type"])}
        taken.add(item["id"])
        unique.append(item)
    return unique


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
        output = _unique(output, repository.taken_item_ids(conn, [i["id"] for i in output]))
    repository.set_output(conn, run["id"], output)
    if response["conversation_id"] is not None:
        # A conversation deleted while the response ran has nothing to append to.
        with suppress(NotFoundError):
            append_items(conn, response["project_id"], response["conversation_id"],
                         [*response["input"], *output])
    if not response["store"]:
        repository.forget(conn, run["id"])
    return [(OUTPUT_EVENT, {"output": output})]
