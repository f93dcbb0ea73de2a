"""Responses as the API sees them: create, read, delete, cancel, list the input items,
count a would-be response's input tokens.

A response is executed as a run by the runs pool: creating one writes a thread, a run and a
`responses` row, all with the response's id, in one transaction, then announces the run as
any run is announced (`shared/runs/lifecycle.queued`; the runs table is the outbox).
"""
from collections.abc import Collection
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from shared.clock import now
from shared.config import get_settings
from shared.errors import InvalidRequestError, NotFoundError
from shared.files.service import require_file
from shared.ids import check_id, is_well_formed, new_id
from shared.items.service import resolve_items
from shared.items.wire import item_view
from shared.objects import deleted
from shared.platform import rpc, tasks
from shared.responses import repository
from shared.responses.requests import Request, bridged, parse_count_request, parse_request
from shared.runs import lifecycle
from shared.runs.states import TERMINAL
from shared.storage import repository as tables
from shared.storage.db import Conn, reading, unit_of_work
from shared.storage.pagination import Page, PageQuery
from shared.storage.repository import ASSISTANTS, CONVERSATIONS, RUNS, THREADS
from shared.vector_stores.stores import require_vector_store

# A new run's stream holds only its own events: a stream of its create starts at the top.
_STREAM_START = "0-0"
# What a run's streamed file_search steps carry when the response includes search results.
_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"

@dataclass(frozen=True)
class Created:
    response: dict[str, Any]
    run: dict[str, Any]
    # A streamed answer relays the run's events after this entry.
    stream_after: str


@dataclass(frozen=True)
class Loaded:
    """A response's rows. While it runs (`output` still None) its steps, in order, and its
    messages by id come too, for the output items shown so far."""
    response: dict[str, Any]
    run: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    messages_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)


def _not_found(response_id: str, param: str | None = None) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id}' not found.", param=param)


def _previous(conn: Conn, project_id: str, previous_id: str) -> None:
    """The previous response is a stored one of the project that has ended."""
    if not is_well_formed("response", previous_id):
        raise NotFoundError(f"Previous response with id '{previous_id}' not found.",
                            param="previous_response_id")
    row = repository.find(conn, project_id, previous_id)
    if row is None:
        raise NotFoundError(f"Previous response with id '{previous_id}' not found.",
                            param="previous_response_id")
    run = repository.run_of(conn, previous_id)
    if run is None or run["status"] not in TERMINAL:
        status = "gone" if run is None else run["status"]
        raise InvalidRequestError(
            f"Previous response with id '{previous_id}' cannot be continued while it is "
            f"{status}.", param="previous_response_id", code="invalid_value")


def _container(conn: Conn, project_id: str, container_id: str, param: str) -> None:
    """A container is a response's sandbox (`cntr_` + the response id's suffix)."""
    response_id = "resp_" + container_id.removeprefix("cntr_")
    if not is_well_formed("response", response_id) or repository.find(
            conn, project_id, response_id) is None:
        raise NotFoundError(f"Container with id '{container_id}' not found.", param=param)


def _check_outputs_called(conn: Conn, request: Request) -> None:
    """Each function_call_output answers a function call the history or the input made."""
    answers = [(index, item["call_id"]) for index, item in enumerate(request.input)
               if item["type"] == "function_call_output"]
    if not answers:
        return
    history: list[dict[str, Any]] = []
    if request.previous_response_id is not None:
        for earlier in repository.chain(conn, request.previous_response_id):
            history.extend([*earlier["input"], *(earlier["output"] or [])])
    elif request.conversation_id is not None:
        history = repository.conversation_items(conn, request.conversation_id)
    called = {item["call_id"] for item in [*history, *request.input]
              if item["type"] == "function_call"}
    for index, call_id in answers:
        if call_id not in called:
            raise InvalidRequestError(
                f"No tool call found for function call output with call_id {call_id}.",
                param=f"input[{index}].call_id", code="invalid_value")


def _resolved(conn: Conn, project_id: str, request: Request) -> Request:
    """Every id the body names resolved inside the project (another project's ids are not
    there), then what its `prompt` assistant gives: before anything is written or sent."""
    if request.previous_response_id is not None:
        _previous(conn, project_id, request.previous_response_id)
    if request.conversation_id is not None:
        try:
            tables.get(conn, CONVERSATIONS, {"project_id": project_id},
                       request.conversation_id, "conversation")
        except NotFoundError as missing:
            raise NotFoundError(missing.message, param="conversation") from None
    request = replace(request, input=resolve_items(conn, project_id, request.input, "input"))
    _check_outputs_called(conn, request)
    for store_id, param in request.vector_store_ids():
        require_vector_store(conn, project_id, store_id, param)
    for file_id, param in request.file_ids():
        require_file(conn, project_id, file_id, param)
    container = request.container()
    if container is not None:
        _container(conn, project_id, *container)
    if request.prompt_id is None:
        return request
    try:
        assistant = tables.get(conn, ASSISTANTS, {"project_id": project_id},
                               request.prompt_id, "prompt.id")
    except NotFoundError as missing:
        raise NotFoundError(missing.message, param="prompt.id") from None
    return bridged(request, assistant)


def _run_row(project_id: str, response_id: str, created_at: int, request: Request
             ) -> dict[str, Any]:
    include = [_SEARCH_CONTENT] if "file_search_call.results" in request.echo["include"] else []
    return {
        **request.run,
        "id": response_id,
        "project_id": project_id,
        "thread_id": response_id,
        "assistant_id": "",
        "status": "queued",
        "include": include,
        "created_at": created_at,
        "expires_at": created_at + get_settings().run_expiry_seconds,
    }


def create_response(project_id: str, body: Any) -> Created:
    """`body`: the JSON object of POST /v1/responses as received (`stream` is the API's and
    is not looked at here). 400 naming the field, or 404, before anything is written."""
    request = parse_request(body)
    response_id = new_id("response")
    with unit_of_work() as conn:
        request = _resolved(conn, project_id, request)
        created_at = now()
        tables.insert(conn, THREADS, {"id": response_id, "project_id": project_id,
                                      "created_at": created_at, "tool_resources": {},
                                      "metadata": {}})
        run = tables.insert(conn, RUNS, _run_row(project_id, response_id, created_at,
                                                 request))
        response = repository.insert(conn, {
            "id": response_id,
            "project_id": project_id,
            "created_at": created_at,
            "previous_response_id": request.previous_response_id,
            "conversation_id": request.conversation_id,
            "store": request.store,
            "background": request.background,
            "request": request.echo,
            "input": request.input,
        })
    lifecycle.queued(run)
    return Created(response, run, _STREAM_START)


def count_input_tokens(project_id: str, body: Any) -> dict[str, Any]:
    """`body`: the JSON object of POST /v1/responses/input_tokens. Checked and resolved as a
    create's is (400, 404 alike); nothing is written. The runs pool, which builds a
    response's prompt, counts the prompt a response created with this body would send."""
    request = parse_count_request(body)
    with reading() as conn:
        request = _resolved(conn, project_id, request)
    counted = rpc.call(tasks.COUNT_INPUT_TOKENS, {
        "run": request.run, "input": request.input,
        "previous_response_id": request.previous_response_id,
        "conversation_id": request.conversation_id,
        "truncation": request.echo["truncation"],
    })
    return {"object": "response.input_tokens", "input_tokens": counted["input_tokens"]}


def _load(conn: Conn, project_id: str, response_id: str, param: str | None) -> Loaded:
    check_id("response", response_id, param or "response_id")
    response = repository.find(conn, project_id, response_id)
    run = None if response is None else repository.run_of(conn, response_id)
    if response is None or run is None:
        raise _not_found(response_id, param)
    if response["output"] is not None:
        return Loaded(response, run)
    return Loaded(response, run, repository.steps_of(conn, response_id),
                  repository.messages_of(conn, response_id))


def get_response_row(project_id: str, response_id: str) -> Loaded:
    """A stored response of the project: 400 for another kind's id, 404 otherwise (a
    `store: false` response is never found)."""
    with reading() as conn:
        return _load(conn, project_id, response_id, None)


def delete_response(project_id: str, response_id: str) -> dict[str, Any]:
    """The response goes with its run, steps and messages (its thread's)."""
    check_id("response", response_id, "response_id")
    with unit_of_work() as conn:
        if not repository.delete(conn, project_id, response_id):
            raise _not_found(response_id)
    return deleted(response_id, "response.deleted")


def cancel_response(project_id: str, response_id: str) -> Loaded:
    """A background response's run is cancelled as a run is; any other response: 400. One
    that ended, or is being cancelled, is answered as it is."""
    with reading() as conn:
        loaded = _load(conn, project_id, response_id, None)
    if not loaded.response["background"]:
        raise InvalidRequestError("Cannot cancel a synchronous response.", param=None)
    if loaded.run["status"] in (*TERMINAL, "cancelling"):
        return loaded
    # A run that ended meanwhile is refused by the lifecycle: the response is shown as is.
    with suppress(InvalidRequestError):
        lifecycle.request_response_cancel(project_id, response_id)
    return get_response_row(project_id, response_id)


def list_input_items(project_id: str, response_id: str, query: PageQuery,
                     include: Collection[str]) -> Page:
    """The response's input items, paged by item id as a conversation's are."""
    with reading() as conn:
        loaded = _load(conn, project_id, response_id, None)
    items = list(loaded.response["input"])
    if query.order == "desc":
        items.reverse()
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    for cursor, param in ((query.after, "after"), (query.before, "before")):
        if cursor is not None and cursor not in ids:
            raise InvalidRequestError(
                f"Invalid '{param}': no object with id '{cursor}' in this list.", param=param)
    if query.after is not None:
        start = ids.index(query.after) + 1
    if query.before is not None:
        end = ids.index(query.before)
    window = items[start:end]
    if query.before is not None and query.after is None:
        page = window[-query.limit:]
        has_more = len(window) > query.limit
    else:
        page = window[:query.limit]
        has_more = len(window) > query.limit
    return Page(data=[item_view(item, include) for item in page], has_more=has_more)
