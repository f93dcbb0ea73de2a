"""Tenant isolation on every reference: a sweep of the API's own route table.

Project A makes one object of every kind; project B then sends A's real ids in every place
a request takes an id: paths (404), bodies (400 naming the field) and query parameters (the
list cursors and the messages' `run_id` filter: 400 naming the parameter). Afterwards every
row of both projects must be as it was, so nothing of A was read into an answer, changed, or
attached to B, and nothing was made for B; and no task was sent to any pool.

That last check needs a broker no worker reads: B's refused requests go through an API
process of the sweep's own whose Celery broker is a Redis of its own, with no consumer, so
a task sent by any door (also one sent inside a transaction that then rolled back) stays in
its queue's list for the sweep to see. The worlds are built through the session's API,
whose workers run A's run and index the stores.

The sweep walks the routes of `create_app().url_map` and the id fields the running
server's `/openapi.json` names: a route, or an id field, without a case here fails the
sweep, so a new endpoint cannot ship without its isolation case.

The pools check again what the API checked, so a reference that got past a door still
reads nothing: the search pool and a run's file_search search only the caller's stores,
and the sandbox reads input files only of the run's project.
"""
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.conftest import serving_api
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("workers")

MODEL = "test-model"
SECRET_A = b"Project A only. The vault code is AZ-9931-KESTREL; never tell project B.\n"
SECRET_A2 = b"Project A ledger: the Oslo account holds 77,120 crowns.\n"
SECRET_WORDS = ("AZ-9931-KESTREL", "77,120")
TABLES = ("assistants", "threads", "messages", "runs", "run_steps", "files", "vector_stores",
          "vector_store_files", "vector_store_file_batches", "conversations",
          "conversation_items", "responses")
LOOKUP = {"type": "function", "function": {
    "name": "lookup", "parameters": {"type": "object", "properties": {}}}}
# Path parameters and the kind of object each names (the key of `Project.ids`).
PATH_KINDS = {"assistant_id": "assistant", "thread_id": "thread", "message_id": "message",
              "run_id": "run", "step_id": "step", "file_id": "file",
              "vector_store_id": "vector_store", "batch_id": "batch",
              "conversation_id": "conversation", "item_id": "item",
              "response_id": "response"}


# --------------------------------------------------------------------------- the projects


@dataclass
class Project:
    key: str
    project_id: str
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    base: str
    database_url: str
    a: Project
    b: Project
    # The sweep's own API process, and the broker only it sends to.
    sweep_base: str
    broker: redis.Redis

    def call(self, project: Project, method: str, path: str, *, json_body: Any = None,
             params: dict[str, str] | None = None, files: Any = None,
             data: dict[str, str] | None = None, base: str | None = None) -> httpx.Response:
        return httpx.request(method, f"{base or self.base}{path}", json=json_body,
                             params=params, files=files, data=data, timeout=30,
                             headers={"Authorization": f"Bearer {project.key}"})

    def enqueued(self) -> dict[bytes, int]:
        """The tasks waiting in the sweep's broker, by queue. Celery's Redis transport keeps
        a queue as a list named after it (its priority levels as lists of suffixed names),
        and only queues are lists there; with no consumer, what was sent stays."""
        return {key: int(self.broker.llen(key)) for key in self.broker.scan_iter()
                if self.broker.type(key) == b"list"}

    def ok(self, project: Project, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(project, method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.text)
        return response.json()


def _script(steps: list[dict[str, Any]]) -> str:
    return f"case-{uuid.uuid4().hex}\nSCRIPT: " + json.dumps({"steps": steps})


def _run_until(world: World, project: Project, thread_id: str, run_id: str,
               statuses: tuple[str, ...]) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        run = world.ok(project, "GET", f"/v1/threads/{thread_id}/runs/{run_id}")
        assert run["status"] not in ("failed", "expired", "cancelled"), run
        return run if run["status"] in statuses else None
    result: dict[str, Any] = wait_for(current, what=f"run {run_id} {statuses}")
    return result


def _upload(world: World, project: Project, name: str, data: bytes) -> str:
    made = world.ok(project, "POST", "/v1/files", files={"file": (name, data)},
                    data={"purpose": "assistants"})
    return str(made["id"])


def _store_with_batch(world: World, project: Project, first: str, second: str) -> None:
    ids = project.ids
    ids["vector_store"] = world.ok(project, "POST", "/v1/vector_stores", json_body={
        "name": "isolation", "file_ids": [first]})["id"]
    ids["batch"] = world.ok(project, "POST",
                            f"/v1/vector_stores/{ids['vector_store']}/file_batches",
                            json_body={"file_ids": [second]})["id"]


def _indexed(world: World, project: Project) -> None:
    path = f"/v1/vector_stores/{project.ids['vector_store']}"
    wait_for(lambda: world.ok(project, "GET", path)["file_counts"]["completed"] == 2,
          what="store indexed")


def _conversation(world: World, project: Project, content: str) -> str:
    """An assistant, a thread with one message and a run on it; the run's id."""
    ids = project.ids
    ids["thread"] = world.ok(project, "POST", "/v1/threads", json_body={
        "messages": [{"role": "user", "content": content}]})["id"]
    ids["message"] = world.ok(project, "GET", f"/v1/threads/{ids['thread']}/messages")[
        "data"][0]["id"]
    ids["run"] = world.ok(project, "POST", f"/v1/threads/{ids['thread']}/runs",
                          json_body={"assistant_id": ids["assistant"]})["id"]
    return ids["run"]


def _conversation_with_item(world: World, project: Project) -> None:
    """A conversation (Responses API) holding one message that names the project's file."""
    ids = project.ids
    ids["conversation"] = world.ok(project, "POST", "/v1/conversations", json_body={
        "items": [{"role": "user", "content": [
            {"type": "input_text", "text": "Read the file."},
            {"type": "input_file", "file_id": ids["file"]}]}]})["id"]
    ids["item"] = world.ok(project, "GET", f"/v1/conversations/{ids['conversation']}/items")[
        "data"][0]["id"]


def _response(world: World, project: Project) -> None:
    """A response (Responses API) and the id of its input item."""
    ids = project.ids
    ids["response"] = world.ok(project, "POST", "/v1/responses", json_body={
        "model": MODEL, "input": "hello"})["id"]
    ids["response_item"] = world.ok(project, "GET", f"/v1/responses/{ids['response']}/"
                                                    "input_items")["data"][0]["id"]


def _first_step(world: World, project: Project) -> None:
    ids = project.ids
    steps = world.ok(project, "GET",
                     f"/v1/threads/{ids['thread']}/runs/{ids['run']}/steps")["data"]
    ids["step"] = steps[-1]["id"]


@pytest.fixture(scope="module")
def quiet_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis of the sweep's own (the shared one's databases are flushed by
    other test sessions), serving as a Celery broker that no worker consumes."""
    server = RedisServer(tmp_path_factory.mktemp("quiet-broker"), tcp=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sweep_api(server_env: dict[str, str], quiet_broker: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API process like the session's (same database and Redis) sending its tasks to the
    quiet broker; its root URL."""
    with serving_api({**server_env, "TREADLE_BROKER_URL": quiet_broker},
                     tmp_path_factory.mktemp("sweep-api") / "api.log") as base:
        yield base


@pytest.fixture(scope="module")
def world(api_base: str, database_url: str, sweep_api: str,
          quiet_broker: str) -> Iterator[World]:
    from shared.projects.api_keys import create_key, project_for_key

    keys = [create_key(f"isolation-{name}-{uuid.uuid4().hex}") for name in "ab"]
    a, b = (Project(key, str(project_for_key(key))) for key in keys)
    w = World(api_base, database_url, a, b, sweep_api, redis.Redis.from_url(quiet_broker))

    a.ids["file"] = _upload(w, a, "vault.txt", SECRET_A)
    _store_with_batch(w, a, a.ids["file"], _upload(w, a, "ledger.txt", SECRET_A2))
    a.ids["assistant"] = w.ok(a, "POST", "/v1/assistants", json_body={
        "model": MODEL, "tools": [LOOKUP, {"type": "file_search"}],
        "tool_resources": {"file_search": {"vector_store_ids": [a.ids["vector_store"]]}}})["id"]
    run_a = _conversation(w, a, _script([
        {"tool_calls": [{"name": "lookup", "arguments": {}}]}, {"text": "done"}]))
    # A's run calls a function (its call id is an id too) and is given the output.
    parked = _run_until(w, a, a.ids["thread"], run_a, ("requires_action",))
    a.ids["call"] = parked["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    w.ok(a, "POST", f"/v1/threads/{a.ids['thread']}/runs/{run_a}/submit_tool_outputs",
         json_body={"tool_outputs": [{"tool_call_id": a.ids["call"], "output": "42"}]})

    b.ids["file"] = _upload(w, b, "mine.txt", b"Project B's own notes.\n")
    _store_with_batch(w, b, b.ids["file"], _upload(w, b, "more.txt", b"More of B's notes.\n"))
    b.ids["assistant"] = w.ok(b, "POST", "/v1/assistants",
                              json_body={"model": MODEL, "tools": [LOOKUP]})["id"]
    run_b = _conversation(w, b, "hello")
    for project in (a, b):
        _conversation_with_item(w, project)
    for project, run in ((a, run_a), (b, run_b)):
        _run_until(w, project, project.ids["thread"], run, ("completed",))
        _first_step(w, project)
        _indexed(w, project)
        _response(w, project)
    with w.broker:
        yield w


def snapshot(world: World, project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every row the project owns, table by table."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(world.database_url, row_factory=dict_row) as conn:
        for table in TABLES:
            order = "vector_store_id, id" if table == "vector_store_files" else "id"
            rows[table] = conn.execute(
                sql.SQL("SELECT * FROM {} WHERE project_id = %s ORDER BY {}").format(
                    sql.Identifier(table), sql.SQL(order)),
                (project.project_id,)).fetchall()
    return rows


# --------------------------------------------------------------------------- the routes


@dataclass(frozen=True)
class FieldCase:
    """Another project's id in one body field or query parameter (B's own ids in the path).
    `field`: as the sweep names it ("?after", "files[].file_id"); `kind`: the key of A's id
    sent; `request(w, foreign)`: the query (GET) or body (POST) carrying it."""
    field: str
    param: str
    kind: str
    request: Callable[[World, str], dict[str, Any]]
    message: Callable[[str], str] | None = None
    # B's own ids for the path, where they are not the world's (key of `Project.ids`).
    own: dict[str, str] = field(default_factory=dict)
    # Run before the case: makes what `own` names.
    prepare: Callable[[World], None] | None = None
    # 404 where the id names the object the request is about (the run's assistant).
    status: int = 400


@dataclass(frozen=True)
class Route:
    """One method of one route: the body that makes a path case valid except for the
    foreign id in its path (POSTs), and the field cases. `no_ids`: why it takes none."""
    body: Callable[[World], dict[str, Any]] | None = None
    fields: tuple[FieldCase, ...] = ()
    no_ids: str | None = None


def not_found(label: str) -> Callable[[str], str]:
    return lambda foreign: f"No {label} found with id '{foreign}'."


def not_in_list(param: str) -> Callable[[str], str]:
    return lambda foreign: f"Invalid '{param}': no object with id '{foreign}' in this list."


def cursors(kind: str) -> tuple[FieldCase, ...]:
    return tuple(FieldCase(f"?{p}", p, kind, lambda w, x, p=p: {p: x}, not_in_list(p))
                 for p in ("after", "before"))


def tool_resources(prefix: str, wrap: Callable[[World, dict[str, Any]], dict[str, Any]]
                   ) -> tuple[FieldCase, ...]:
    """The three ids tool_resources take, under `prefix` (`thread.` in create and run)."""
    where = f"{prefix}tool_resources"
    return (
        FieldCase(f"{where}.code_interpreter.file_ids[]",
                  f"{where}.code_interpreter.file_ids[0]", "file",
                  lambda w, x: wrap(w, {"code_interpreter": {"file_ids": [x]}}),
                  not_found("file")),
        FieldCase(f"{where}.file_search.vector_store_ids[]",
                  f"{where}.file_search.vector_store_ids[0]", "vector_store",
                  lambda w, x: wrap(w, {"file_search": {"vector_store_ids": [x]}}),
                  not_found("vector store")),
        FieldCase(f"{where}.file_search.vector_stores[].file_ids[]",
                  f"{where}.file_search.vector_stores[0].file_ids[0]", "file",
                  lambda w, x: wrap(w, {"file_search": {"vector_stores": [{"file_ids": [x]}]}}),
                  not_found("file")),
    )


def message_files(prefix: str, wrap: Callable[[World, dict[str, Any]], dict[str, Any]]
                  ) -> tuple[FieldCase, ...]:
    """The files a message names: attachments (for file_search, which would fill a store)
    and image_file parts. `prefix` names the message ("messages[]."); the error names the
    first ("messages[0].")."""
    where = prefix.replace("[]", "[0]")
    return (
        FieldCase(f"{prefix}attachments[].file_id", f"{where}attachments[0].file_id", "file",
                  lambda w, x: wrap(w, {"role": "user", "content": "read this", "attachments": [
                      {"file_id": x, "tools": [{"type": "file_search"},
                                               {"type": "code_interpreter"}]}]}),
                  not_found("file")),
        FieldCase(f"{prefix}content[].image_file.file_id",
                  f"{where}content[1].image_file.file_id", "file",
                  lambda w, x: wrap(w, {"role": "user", "content": [
                      {"type": "text", "text": "look"},
                      {"type": "image_file", "image_file": {"file_id": x}}]}),
                  not_found("file")),
    )


def item_files(wrap: Callable[[World, list[dict[str, Any]]], dict[str, Any]]
               ) -> tuple[FieldCase, ...]:
    """The files conversation items name: a message's input_image (or input_file) parts and
    a function output's input_file (or input_image) parts."""
    return (
        FieldCase("items[].content[].file_id", "items[0].content[1].file_id", "file",
                  lambda w, x: wrap(w, [{"role": "user", "content": [
                      {"type": "input_text", "text": "look"},
                      {"type": "input_image", "file_id": x}]}]),
                  not_found("file")),
        FieldCase("items[].output[].file_id", "items[0].output[0].file_id", "file",
                  lambda w, x: wrap(w, [{"type": "function_call_output", "call_id": "c",
                                         "output": [{"type": "input_file", "file_id": x}]}]),
                  not_found("file")),
    )


def item_references(where: str, wrap: Callable[[World, list[dict[str, Any]]], dict[str, Any]]
                    ) -> tuple[FieldCase, ...]:
    """The items an item reference may name: a conversation's and a response's (`where`:
    "input" or "items")."""
    return tuple(
        FieldCase(f"{where}[].id ({kind})", f"{where}[0].id", kind,
                  lambda w, x: wrap(w, [{"type": "item_reference", "id": x}]),
                  lambda foreign: f"Item with id '{foreign}' not found.", status=404)
        for kind in ("item", "response_item"))


def _own(w: World, kind: str) -> str:
    return w.b.ids[kind]


def _park_b(w: World) -> None:
    """A run of B waiting for a function output (made just before its case: runs expire)."""
    b = w.b
    b.ids["parked_thread"] = w.ok(b, "POST", "/v1/threads", json_body={"messages": [
        {"role": "user", "content": _script([
            {"tool_calls": [{"name": "lookup", "arguments": {}}]}])}]})["id"]
    b.ids["parked_run"] = w.ok(b, "POST", f"/v1/threads/{b.ids['parked_thread']}/runs",
                               json_body={"assistant_id": b.ids["assistant"]})["id"]
    _run_until(w, b, b.ids["parked_thread"], b.ids["parked_run"], ("requires_action",))


def _new_assistant(w: World, resources: dict[str, Any]) -> dict[str, Any]:
    return {"model": MODEL, "tool_resources": resources}


def _modify(w: World, resources: dict[str, Any]) -> dict[str, Any]:
    return {"tool_resources": resources}


def _run_body(w: World, extra: dict[str, Any]) -> dict[str, Any]:
    return {"assistant_id": _own(w, "assistant"), **extra}


def _in_thread(w: World, message: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [message]}


def _respond(**fields: Any) -> dict[str, Any]:
    """A create-response body, valid but for the foreign id in `fields`."""
    return {"model": MODEL, "input": "hello", **fields}


def _count(**fields: Any) -> dict[str, Any]:
    """An input token count's body, valid but for the foreign id in `fields`."""
    return {"input": "hello", **fields}


def response_fields(body: Callable[..., dict[str, Any]]) -> tuple[FieldCase, ...]:
    """The ids a response's body names (a create's, or a count's), `body(**fields)` it."""
    return (
        FieldCase("previous_response_id", "previous_response_id", "response",
                  lambda w, x: body(previous_response_id=x),
                  lambda x: f"Previous response with id '{x}' not found.", status=404),
        FieldCase("conversation", "conversation", "conversation",
                  lambda w, x: body(conversation=x), not_found("conversation"), status=404),
        FieldCase("tools[].vector_store_ids[]", "tools[0].vector_store_ids[0]", "vector_store",
                  lambda w, x: body(tools=[{"type": "file_search", "vector_store_ids": [x]}]),
                  not_found("vector store")),
        FieldCase("tools[].container.file_ids[]", "tools[0].container.file_ids[0]", "file",
                  lambda w, x: body(tools=[{"type": "code_interpreter", "container": {
                      "type": "auto", "file_ids": [x]}}]),
                  not_found("file")),
        FieldCase("input[].content[].file_id", "input[0].content[1].file_id", "file",
                  lambda w, x: body(input=[{"role": "user", "content": [
                      {"type": "input_text", "text": "look"},
                      {"type": "input_file", "file_id": x}]}]),
                  not_found("file")),
    )


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/health"): Route(no_ids="liveness"),
    ("GET", "/ready"): Route(no_ids="readiness"),
    ("GET", "/metrics"): Route(no_ids="deployment figures, no objects"),
    ("GET", "/openapi.json"): Route(no_ids="the API's description"),
    ("GET", "/docs"): Route(no_ids="the docs page"),
    ("GET", "/docs/swagger-ui/<version>/<path:filename>"): Route(
        no_ids="Swagger UI's files for the docs page"),
    ("GET", "/console"): Route(no_ids="the console's page; it asks for a key"),
    ("GET", "/console/<path:path>"): Route(no_ids="the console's page at a deep link"),
    ("GET", "/console/static/<path:path>"): Route(no_ids="the console's files"),
    ("GET", "/v1/status"): Route(
        no_ids="the key's own project's run counts and the deployment's health"),
    ("GET", "/static/<path:filename>"): Route(no_ids="Flask's static files, none served"),
    ("POST", "/v1/files"): Route(no_ids="an upload names no object"),

    ("GET", "/v1/assistants"): Route(fields=cursors("assistant")),
    ("POST", "/v1/assistants"): Route(fields=tool_resources("", _new_assistant)),
    ("GET", "/v1/assistants/<assistant_id>"): Route(),
    ("POST", "/v1/assistants/<assistant_id>"): Route(
        body=lambda w: {"name": "taken"}, fields=tool_resources("", _modify)),
    ("DELETE", "/v1/assistants/<assistant_id>"): Route(),

    ("GET", "/v1/threads"): Route(fields=cursors("thread")),
    ("POST", "/v1/threads"): Route(fields=(
        *tool_resources("", _modify),
        *message_files("messages[].", _in_thread))),
    ("GET", "/v1/threads/<thread_id>"): Route(),
    ("POST", "/v1/threads/<thread_id>"): Route(
        body=lambda w: {"metadata": {"k": "v"}}, fields=tool_resources("", _modify)),
    ("DELETE", "/v1/threads/<thread_id>"): Route(),

    ("GET", "/v1/threads/<thread_id>/messages"): Route(fields=(
        *cursors("message"),
        FieldCase("?run_id", "run_id", "run", lambda w, x: {"run_id": x},
                  not_found("run")))),
    ("POST", "/v1/threads/<thread_id>/messages"): Route(
        body=lambda w: {"role": "user", "content": "x"},
        fields=message_files("", lambda w, message: message)),
    ("GET", "/v1/threads/<thread_id>/messages/<message_id>"): Route(),
    ("POST", "/v1/threads/<thread_id>/messages/<message_id>"): Route(
        body=lambda w: {"metadata": {"k": "v"}}),
    ("DELETE", "/v1/threads/<thread_id>/messages/<message_id>"): Route(),

    ("POST", "/v1/threads/runs"): Route(fields=(
        FieldCase("assistant_id", "assistant_id", "assistant",
                  lambda w, x: {"assistant_id": x}, not_found("assistant"), status=404),
        *tool_resources("", lambda w, r: _run_body(w, {"tool_resources": r})),
        *tool_resources("thread.", lambda w, r: _run_body(w, {"thread": {
            "tool_resources": r}})),
        *message_files("thread.messages[].", lambda w, m: _run_body(w, {"thread": {
            "messages": [m]}})))),
    ("GET", "/v1/threads/<thread_id>/runs"): Route(fields=cursors("run")),
    ("POST", "/v1/threads/<thread_id>/runs"): Route(
        body=lambda w: {"assistant_id": _own(w, "assistant")},
        fields=(FieldCase("assistant_id", "assistant_id", "assistant",
                          lambda w, x: {"assistant_id": x}, not_found("assistant"),
                          status=404),
                *message_files("additional_messages[].", lambda w, m: _run_body(w, {
                    "additional_messages": [m]})))),
    ("GET", "/v1/threads/<thread_id>/runs/<run_id>"): Route(),
    ("POST", "/v1/threads/<thread_id>/runs/<run_id>"): Route(
        body=lambda w: {"metadata": {"k": "v"}}),
    ("POST", "/v1/threads/<thread_id>/runs/<run_id>/cancel"): Route(body=lambda w: {}),
    ("POST", "/v1/threads/<thread_id>/runs/<run_id>/submit_tool_outputs"): Route(
        body=lambda w: {"tool_outputs": [{"tool_call_id": w.a.ids["call"], "output": "x"}]},
        fields=(FieldCase(
            "tool_outputs[].tool_call_id", "tool_outputs[0].tool_call_id", "call",
            lambda w, x: {"tool_outputs": [{"tool_call_id": x, "output": "x"}]},
            own={"thread_id": "parked_thread", "run_id": "parked_run"}, prepare=_park_b),)),
    ("GET", "/v1/threads/<thread_id>/runs/<run_id>/events"): Route(),
    ("GET", "/v1/threads/<thread_id>/runs/<run_id>/steps"): Route(fields=cursors("step")),
    ("GET", "/v1/threads/<thread_id>/runs/<run_id>/steps/<step_id>"): Route(),

    ("GET", "/v1/files"): Route(fields=cursors("file")[:1]),
    ("GET", "/v1/files/<file_id>"): Route(),
    ("DELETE", "/v1/files/<file_id>"): Route(),
    ("GET", "/v1/files/<file_id>/content"): Route(),

    ("GET", "/v1/vector_stores"): Route(fields=cursors("vector_store")),
    ("POST", "/v1/vector_stores"): Route(fields=(FieldCase(
        "file_ids[]", "file_ids[0]", "file", lambda w, x: {"file_ids": [x]},
        not_found("file")),)),
    ("GET", "/v1/vector_stores/<vector_store_id>"): Route(),
    ("POST", "/v1/vector_stores/<vector_store_id>"): Route(body=lambda w: {"name": "taken"}),
    ("DELETE", "/v1/vector_stores/<vector_store_id>"): Route(),
    ("POST", "/v1/vector_stores/<vector_store_id>/search"): Route(
        body=lambda w: {"query": "vault code"}),
    ("GET", "/v1/vector_stores/<vector_store_id>/files"): Route(fields=cursors("file")),
    ("POST", "/v1/vector_stores/<vector_store_id>/files"): Route(
        body=lambda w: {"file_id": _own(w, "file")},
        fields=(FieldCase("file_id", "file_id", "file", lambda w, x: {"file_id": x},
                          not_found("file")),)),
    ("GET", "/v1/vector_stores/<vector_store_id>/files/<file_id>"): Route(),
    ("POST", "/v1/vector_stores/<vector_store_id>/files/<file_id>"): Route(
        body=lambda w: {"attributes": {"k": "v"}}),
    ("DELETE", "/v1/vector_stores/<vector_store_id>/files/<file_id>"): Route(),
    ("GET", "/v1/vector_stores/<vector_store_id>/files/<file_id>/content"): Route(),
    ("POST", "/v1/vector_stores/<vector_store_id>/file_batches"): Route(
        body=lambda w: {"file_ids": [_own(w, "file")]},
        fields=(FieldCase("file_ids[]", "file_ids[0]", "file", lambda w, x: {"file_ids": [x]},
                          not_found("file")),
                FieldCase("files[].file_id", "files[0].file_id", "file",
                          lambda w, x: {"files": [{"file_id": x}]}, not_found("file")))),
    ("GET", "/v1/vector_stores/<vector_store_id>/file_batches/<batch_id>"): Route(),
    ("POST", "/v1/vector_stores/<vector_store_id>/file_batches/<batch_id>/cancel"): Route(
        body=lambda w: {}),
    ("GET", "/v1/vector_stores/<vector_store_id>/file_batches/<batch_id>/files"): Route(
        fields=cursors("file")),

    ("POST", "/v1/conversations"): Route(fields=(
        *item_files(lambda w, items: {"items": items}),
        *item_references("items", lambda w, items: {"items": items}))),
    ("GET", "/v1/conversations/<conversation_id>"): Route(),
    ("POST", "/v1/conversations/<conversation_id>"): Route(
        body=lambda w: {"metadata": {"k": "v"}}),
    ("DELETE", "/v1/conversations/<conversation_id>"): Route(),
    ("GET", "/v1/conversations/<conversation_id>/items"): Route(fields=cursors("item")[:1]),
    ("POST", "/v1/conversations/<conversation_id>/items"): Route(
        body=lambda w: {"items": [{"role": "user", "content": "x"}]},
        fields=(*item_files(lambda w, items: {"items": items}),
                *item_references("items", lambda w, items: {"items": items}))),
    ("GET", "/v1/conversations/<conversation_id>/items/<item_id>"): Route(),
    ("DELETE", "/v1/conversations/<conversation_id>/items/<item_id>"): Route(),

    ("POST", "/v1/responses"): Route(fields=(
        *response_fields(_respond),
        FieldCase("prompt.id", "prompt.id", "assistant", lambda w, x: _respond(prompt={"id": x}),
                  not_found("assistant"), status=404),
        *item_references("input", lambda w, items: _respond(input=items)),
    )),
    ("POST", "/v1/responses/input_tokens"): Route(fields=(
        *response_fields(_count),
        *item_references("input", lambda w, items: _count(input=items)),
    )),
    ("GET", "/v1/responses/<response_id>"): Route(),
    ("DELETE", "/v1/responses/<response_id>"): Route(),
    ("POST", "/v1/responses/<response_id>/cancel"): Route(body=lambda w: {}),
    ("GET", "/v1/responses/<response_id>/input_items"): Route(fields=(
        FieldCase("?after", "after", "response_item", lambda w, x: {"after": x},
                  not_in_list("after")),)),
}


_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def path_params(rule: str) -> list[str]:
    return _PATH_PARAM.findall(rule)


@dataclass(frozen=True)
class Case:
    method: str
    rule: str
    field: str
    route: Route
    field_case: FieldCase | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule} {self.field}"


def all_cases() -> Iterator[Case]:
    for (method, rule), route in ROUTES.items():
        if route.no_ids:
            continue
        for name in path_params(rule):
            yield Case(method, rule, f"<{name}>", route)
        for field_case in route.fields:
            yield Case(method, rule, field_case.field, route, field_case)


CASES = list(all_cases())


# --------------------------------------------------------------------------- the sweep


def _concrete(world: World, case: Case) -> str:
    """The rule with ids filled in: for a path case, B's own ids before the foreign one and
    A's from it on (A's child under B's parent, or A's whole chain); for a field case, B's
    own ids throughout."""
    params = path_params(case.rule)
    foreign = case.field[1:-1] if case.field.startswith("<") else None
    own = case.field_case.own if case.field_case else {}
    path = case.rule
    for index, name in enumerate(params):
        project = world.a if foreign and index >= params.index(foreign) else world.b
        key = own.get(name, PATH_KINDS[name]) if project is world.b else PATH_KINDS[name]
        path = _PATH_PARAM.sub(project.ids[key], path, count=1)
    return path


def _send(world: World, case: Case) -> tuple[httpx.Response, str | None]:
    """B's request, through the sweep's own API process."""
    path = _concrete(world, case)
    door = world.sweep_base
    if case.field_case is None:
        body = case.route.body(world) if case.route.body else None
        return world.call(world.b, case.method, path, json_body=body, base=door), None
    foreign = world.a.ids[case.field_case.kind]
    request = case.field_case.request(world, foreign)
    if case.method == "GET":
        return world.call(world.b, case.method, path, params=request, base=door), foreign
    return world.call(world.b, case.method, path, json_body=request, base=door), foreign


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_another_projects_id_is_not_found(world: World, case: Case) -> None:
    if case.field_case and case.field_case.prepare:
        case.field_case.prepare(world)
    before_a, before_b = snapshot(world, world.a), snapshot(world, world.b)
    queued = world.enqueued()

    response, foreign = _send(world, case)

    expected = case.field_case.status if case.field_case else 404
    assert response.status_code == expected, (case.id, response.status_code, response.text)
    assert not any(word in response.text for word in SECRET_WORDS), response.text
    assert snapshot(world, world.a) == before_a, f"{case.id} changed project A's objects"
    assert snapshot(world, world.b) == before_b, f"{case.id} changed project B's objects"
    # The task of a request is sent before its answer, so by now it would be listed.
    assert world.enqueued() == queued, f"{case.id} sent a task"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error", error
    if case.field_case is not None:
        assert error["param"] == case.field_case.param, error
        if case.field_case.message is not None:
            assert error["message"] == case.field_case.message(str(foreign)), error
    if case.field_case and case.field_case.own.get("run_id") == "parked_run":
        # Done with it (it may have expired meanwhile: then there is nothing to cancel).
        world.call(world.b, "POST", f"/v1/threads/{world.b.ids['parked_thread']}/runs/"
                                    f"{world.b.ids['parked_run']}/cancel")


def test_own_ids_still_work(world: World) -> None:
    """The control: B's own ids in the same places are accepted."""
    b = world.b
    made = world.ok(b, "POST", "/v1/assistants", json_body={"model": MODEL, "tool_resources": {
        "file_search": {"vector_store_ids": [b.ids["vector_store"]]},
        "code_interpreter": {"file_ids": [b.ids["file"]]}}})
    assert made["tool_resources"]["file_search"]["vector_store_ids"] == [b.ids["vector_store"]]
    listed = world.ok(b, "GET", f"/v1/threads/{b.ids['thread']}/messages",
                      params={"run_id": b.ids["run"]})
    assert [m["role"] for m in listed["data"]] == ["assistant"]
    item = world.ok(b, "GET", f"/v1/conversations/{b.ids['conversation']}/items/"
                              f"{b.ids['item']}")
    assert item["content"][1]["file_id"] == b.ids["file"]
    world.ok(b, "DELETE", f"/v1/assistants/{made['id']}")


def test_the_sweeps_broker_sees_every_task_sent(world: World) -> None:
    """The control of the enqueue check: the sweep's API process sends to the quiet broker,
    and a sent task stays listed there. A project of its own, so B's rows never change
    (the session's timers requeue its run, whose task never reached a worker, later)."""
    from shared.projects.api_keys import create_key

    c = Project(create_key(f"isolation-c-{uuid.uuid4().hex}"), "")
    before = world.enqueued()
    made = world.call(c, "POST", "/v1/threads/runs", base=world.sweep_base, json_body={
        "assistant_id": world.ok(c, "POST", "/v1/assistants", json_body={"model": MODEL})["id"],
        "thread": {"messages": [{"role": "user", "content": "hello"}]}})
    assert made.status_code == 200, made.text
    after = world.enqueued()
    assert sum(after.values()) == sum(before.values()) + 1, (before, after)
    assert after.get(b"runs", 0) == before.get(b"runs", 0) + 1, after


# --------------------------------------------------------------------------- coverage


def _openapi_path(rule: str) -> str:
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", rule)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _id_fields(spec: dict[str, Any], schema: dict[str, Any], prefix: str = "",
               depth: int = 0) -> set[str]:
    """Fields of a body schema that take ids (named `*_id` or `*_ids`), as the sweep names
    them: "tool_resources.file_search.vector_store_ids[]"."""
    schema = _resolve(spec, schema)
    found: set[str] = set()
    if depth > 12:
        return found
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            found |= _id_fields(spec, part, prefix, depth + 1)
    if "items" in schema:
        found |= _id_fields(spec, schema["items"], prefix + "[]", depth + 1)
    for name, sub in schema.get("properties", {}).items():
        where = f"{prefix}.{name}" if prefix else name
        resolved = _resolve(spec, sub)
        if name.endswith(("_id", "_ids")):
            found.add(where + "[]" if resolved.get("type") == "array" else where)
        found |= _id_fields(spec, sub, where, depth + 1)
    return found


def _route_id_fields(spec: dict[str, Any], rule: str, method: str) -> set[str]:
    """Every input of the route that names an object, as the running server describes it."""
    fields = {f"<{name}>" for name in path_params(rule) if name.endswith("_id")}
    operation = spec["paths"].get(_openapi_path(rule), {}).get(method.lower(), {})
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "query" and (name in ("after", "before")
                                           or name.endswith("_id")):
            fields.add(f"?{name}")
    for content in operation.get("requestBody", {}).get("content", {}).values():
        fields |= _id_fields(spec, content.get("schema", {}))
    # A message's content parts are one free-form field in the spec; wherever a message is
    # taken (its attachments show where), its image_file parts name files too.
    fields |= {name.replace("attachments[].file_id", "content[].image_file.file_id")
               for name in fields if name.endswith("attachments[].file_id")}
    return fields


def test_every_route_and_id_field_has_a_case(api_base: str) -> None:
    from api.app import create_app

    routes = {(method, rule.rule) for rule in create_app().url_map.iter_rules()
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    missing = sorted(routes - ROUTES.keys())
    assert not missing, f"routes without an isolation case: {missing}"
    stale = sorted(ROUTES.keys() - routes)
    assert not stale, f"cases for routes that do not exist: {stale}"

    spec = httpx.get(f"{api_base}/openapi.json", timeout=10).json()
    uncovered = []
    for (method, rule), route in ROUTES.items():
        needed = _route_id_fields(spec, rule, method)
        if route.no_ids:
            assert not needed, f"{method} {rule} takes ids {needed}, but is marked no_ids"
            continue
        covered = {case.field for case in CASES if (case.method, case.rule) == (method, rule)}
        uncovered += [f"{method} {rule} {name}" for name in sorted(needed - covered)]
    assert not uncovered, f"id fields without an isolation case: {uncovered}"
    # The walk of the spec must see the nested fields, or the check above proves nothing.
    assert "thread.messages[].attachments[].file_id" in _route_id_fields(
        spec, "/v1/threads/runs", "POST")


# --------------------------------------------------------------------------- the pools


def test_search_pool_reads_only_the_callers_stores(world: World) -> None:
    from shared.platform import rpc, tasks

    def hits(project_id: str | None, store_ids: list[str]) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"vector_store_ids": store_ids, "queries": ["vault code"],
                                   "limit": 10, "filters": None, "score_threshold": None}
        if project_id is not None:
            payload["project_id"] = project_id
        found: list[dict[str, Any]] = rpc.call(tasks.SEARCH, payload, timeout=30)["hits"]
        return found

    a_store, b_store = world.a.ids["vector_store"], world.b.ids["vector_store"]
    assert any("AZ-9931-KESTREL" in hit["text"] for hit in hits(world.a.project_id, [a_store]))
    assert hits(world.b.project_id, [a_store]) == []
    assert hits(None, [a_store]) == []
    mixed = hits(world.b.project_id, [a_store, b_store])
    assert mixed and {hit["file_id"] for hit in mixed} <= {
        f["id"] for f in world.ok(world.b, "GET", f"/v1/vector_stores/{b_store}/files")["data"]}


def test_a_run_never_searches_another_projects_store(world: World, model_server: Any) -> None:
    """Were A's store id ever stored in B's assistant (a bug in some door), B's run still
    finds nothing in it: the run's file_search and the search pool both refuse it."""
    b = world.b
    assistant = world.ok(b, "POST", "/v1/assistants", json_body={
        "model": MODEL, "tools": [{"type": "file_search"}]})["id"]
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE assistants SET tool_resources = %s WHERE id = %s",
                     (Jsonb({"file_search": {
                         "vector_store_ids": [world.a.ids["vector_store"]]}}), assistant))
    content = _script([{"tool_calls": [{"name": "file_search",
                                        "arguments": {"query": "vault code"}}]},
                       {"text": "Nothing found."}])
    marker = content.split("\n", 1)[0]
    thread = world.ok(b, "POST", "/v1/threads", json_body={
        "messages": [{"role": "user", "content": content}]})["id"]
    run = world.ok(b, "POST", f"/v1/threads/{thread}/runs",
                   json_body={"assistant_id": assistant})["id"]
    _run_until(world, b, thread, run, ("completed",))

    steps = world.ok(b, "GET", f"/v1/threads/{thread}/runs/{run}/steps", params={
        "include[]": "step_details.tool_calls[*].file_search.results[*].content"})["data"]
    tool_step = next(s for s in steps if s["type"] == "tool_calls")
    [call] = tool_step["step_details"]["tool_calls"]
    assert call["file_search"]["results"] == []
    seen = json.dumps([r["body"] for r in model_server.requests("/v1/chat/completions")
                       if marker in json.dumps(r["body"])])
    assert not any(word in seen for word in SECRET_WORDS)


def test_sandbox_reads_only_the_payload_projects_files(world: World) -> None:
    from shared.errors import NotFoundError
    from workers.sandbox.tasks import _inputs

    [mine] = _inputs(world.a.project_id, [world.a.ids["file"]])
    assert mine.data == SECRET_A
    with pytest.raises(NotFoundError):
        _inputs(world.b.project_id, [world.a.ids["file"]])
