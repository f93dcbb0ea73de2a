"""A small, real, deterministic HTTP server speaking the OpenAI Chat Completions API.

Tests and benchmarks point production code at it instead of a real model. It answers
`POST /v1/chat/completions` (streaming and not, text and tool calls), `POST /v1/embeddings`
and `GET /v1/models` exactly as OpenAI does on the wire, so the official `openai` client
parses every answer. Standard library only.

What it answers is decided by the LAST message of the request:

* role `tool`: the text `"Tool results: " + "; ".join(<contents of the trailing tool
  messages>)`, so a function-calling loop finishes (unless a `steps` script applies, below);
* otherwise its text (a string, or the `text` parts of a list joined with ""): if a line of
  it starts with `SCRIPT:` followed by a one-line JSON object, that script is followed;
  otherwise the reply is `"You said: " + text`.

Script keys (all optional):

`text`            reply text (default: "You said: " + the message text without SCRIPT lines;
                  when the script answers tool results, the "Tool results: ..." text)
`tokens`          int N: reply "tok0 tok1 ... tok{N-1}" (overrides `text`)
`chunk_tokens`    tokens per streamed chunk (default 1)
`tool_calls`      [{"name": str, "arguments": object}]: call these tools (in parallel);
                  finish_reason "tool_calls". Content is null unless `text`/`tokens` is given
                  too, in which case the text is streamed first. `arguments` is sent as
                  json.dumps(arguments) (a string is sent verbatim, e.g. to test bad JSON).
                  Ids: "call_" + 24 alphanumerics derived from (request index, call index).
                  tools / tool_choice / parallel_tool_calls in the request are recorded but
                  never change the answer: the script decides.
`status`          HTTP error status to answer with (OpenAI error body)
`error_message`   message of that error (default: the status phrase)
`error_type`, `error_code`  override the error body's `type` / `code`
`retry_after_ms`  send a `retry-after-ms` header with the error (the openai client honours it)
`fail_times`      int N: fail with `status` (default 500) only the first N times this exact
                  script text is seen, then succeed (counters reset by `DELETE /_requests`)
`gather`          int N: hold the answer until N chat completion requests have been open
                  at once (the peak below reaches N), or `gather_s` (default 60) seconds
                  pass; then `delay_ms` applies. Hundreds of calls made at once are thus all
                  in flight together however slowly their client started them.
`delay_ms`        sleep before the first byte
`chunk_delay_ms`  sleep between streamed chunks (0: the whole stream goes out in one write)
`hang`            true: streaming never ends on its own: after the first chunk a chunk (the
                  reply's tokens, then "tok{i} " fillers) is sent every `chunk_delay_ms`
                  (default 50) until the client disconnects, max tokens are reached
                  (finish "length") or `hang_s` (default 60) seconds pass (finish "stop").
                  Tool calls are not sent. Non-streaming: the answer is held back `hang_s`
                  seconds or until the client disconnects.
`ignore_max_tokens`  true: answer as if the request set no `max_completion_tokens` /
                  `max_tokens` (the whole reply, its tool calls, finish_reason and usage as
                  if uncut), as many OpenAI-compatible servers do
`steps`           [script, ...]: a multi-round script. The script is looked up in the latest
                  user/system/developer message holding a SCRIPT line (also when the last
                  message is a tool message); step k = the number of assistant messages after
                  that message; steps[k] is followed (other top-level keys are ignored), and
                  past the end the default reply is. `fail_times` counts per step.

Tokens: the reply text is split into tokens with `\\S+\\s*` (one word plus its trailing
whitespace; leading whitespace goes with the first token), so concatenated tokens give back
the text exactly. `max_completion_tokens` (or `max_tokens`) cuts the text to that many tokens
(a prefix of the reply, possibly ending in a space) with finish_reason "length"; tool calls
are dropped when the text was cut and are otherwise never cut.

Usage: prompt_tokens = sum over messages of (4 + whitespace-separated words of its text and
of its tool calls' names and arguments); completion_tokens = text tokens sent + for each
tool call max(1, words of its arguments JSON); total = the sum.

Every chat/embeddings request is recorded as {"path", "body", "stream", "status",
"completed", "disconnected", "headers", "client"} (`completed`: the whole response was written;
`disconnected`: the client went away before that; `client`: the client's address and port, the
same for the requests of one connection). `GET /_requests[?path=...]` lists them,
`DELETE /_requests` clears them (and the `fail_times` counters and the peak below).

`GET /_concurrency` answers `{"open": n, "peak": m}`: chat completion requests being answered
now, and the most open at once since the start or the last `DELETE /_requests`; the count of
runs in flight as the model sees it.

Run in the foreground with `python -m tests.support.model_server --port 9100`.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import math
import re
import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODEL = "test-model"
DEFAULT_DIMENSIONS = 64
DEFAULT_HANG_S = 60.0
DEFAULT_GATHER_S = 60.0
DEFAULT_HANG_CHUNK_DELAY_MS = 50
FINGERPRINT = "fp_treadle_test"
_TOKEN = re.compile(r"\S+\s*")
_WORD = re.compile(r"\w+")
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


class _Disconnected(Exception):
    """The client closed the connection before the response was complete."""


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# --------------------------------------------------------------------------- helpers

def _alnum_id(seed: str, length: int = 24) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        out.append(_ALNUM[digit])
    return "".join(out)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    return str(content)


def _tokens_of(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    if not tokens:
        return [text] if text else []
    lead = len(text) - len(text.lstrip())
    if lead:
        tokens[0] = text[:lead] + tokens[0]
    return tokens


def _prompt_tokens(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        total += 4
        if not isinstance(message, dict):
            continue
        total += len(_content_text(message.get("content")).split())
        for call in message.get("tool_calls") or []:
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            total += len(str(function.get("name", "")).split())
            total += len(str(function.get("arguments", "")).split())
    return total


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _find_script(text: str) -> tuple[dict[str, Any], str] | None:
    """The SCRIPT object in `text` and its raw JSON text, or None."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("SCRIPT:"):
            continue
        raw = stripped[len("SCRIPT:"):].strip()
        try:
            script = json.loads(raw)
        except ValueError as exc:
            raise _BadRequest(f"model_server: SCRIPT is not valid JSON: {exc}") from None
        if not isinstance(script, dict):
            raise _BadRequest("model_server: SCRIPT must be a JSON object")
        return script, raw
    return None


def _without_script(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if not line.strip().startswith("SCRIPT:")).strip()


@functools.lru_cache(maxsize=65536)
def _bucket(word: str, dimensions: int) -> int:
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % dimensions


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The deterministic, L2-normalised vector the server answers for `text`."""
    words = _WORD.findall(text.lower()) or text.lower().split()
    vector = [0.0] * dimensions
    for word in words:
        vector[_bucket(word, dimensions)] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


# --------------------------------------------------------------------------- the plan

class _Plan:
    """What to answer for one chat completion request."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.has_text = True
        self.tool_calls: list[tuple[str, str]] = []  # (name, arguments JSON)
        self.chunk_tokens = 1
        self.gather = 0
        self.gather_s = DEFAULT_GATHER_S
        self.delay_ms = 0.0
        self.chunk_delay_ms = 0.0
        self.hang = False
        self.hang_s = DEFAULT_HANG_S
        self.ignore_max_tokens = False
        self.error: tuple[int, dict[str, Any], list[tuple[str, str]]] | None = None


def _error_body(status: int, message: str | None, err_type: str | None = None,
                code: str | None = None, param: str | None = None) -> dict[str, Any]:
    default_type, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None))
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"error {status}"
    return {"error": {"message": message, "type": err_type or default_type, "param": param,
                      "code": code if code is not None else default_code}}


def _make_plan(body: dict[str, Any], state: _State) -> _Plan:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty array", "messages")
    last = messages[-1]
    if not isinstance(last, dict):
        raise _BadRequest("each message must be an object", "messages")

    script: dict[str, Any] | None = None
    key = ""
    if last.get("role") == "tool":
        trailing: list[str] = []
        for message in reversed(messages):
            if not isinstance(message, dict) or message.get("role") != "tool":
                break
            trailing.append(_content_text(message.get("content")))
        default_text = "Tool results: " + "; ".join(reversed(trailing))
        # A `steps` script in the latest user/system/developer message holding a SCRIPT.
        for position in range(len(messages) - 1, -1, -1):
            message = messages[position]
            if not isinstance(message, dict) or message.get(
                    "role") not in ("user", "system", "developer"):
                continue
            found = _find_script(_content_text(message.get("content")))
            if found is None:
                continue
            if isinstance(found[0].get("steps"), list):
                key = found[1]
                script = _step(found[0], messages[position + 1:])
            break
    else:
        text = _content_text(last.get("content"))
        found = _find_script(text)
        if found is None:
            default_text = "You said: " + text
        else:
            script, key = found
            default_text = "You said: " + _without_script(text)
            if isinstance(script.get("steps"), list):
                script = _step(script, [])

    plan = _Plan()
    if script is None:
        plan.tokens = _tokens_of(default_text)
        return plan
    if isinstance(script.get("_step"), int):
        key = f"{key}#{script['_step']}"

    plan.gather = int(script.get("gather") or 0)
    plan.gather_s = float(script.get("gather_s") or DEFAULT_GATHER_S)
    plan.delay_ms = float(script.get("delay_ms") or 0)
    status = script.get("status")
    fail_times = script.get("fail_times")
    if status is not None or fail_times is not None:
        failing = True
        if fail_times is not None:
            with state.lock:
                seen = state.seen[key] = state.seen.get(key, 0) + 1
            failing = seen <= int(fail_times)
        if failing:
            status = int(status or 500)
            headers: list[tuple[str, str]] = []
            if script.get("retry_after_ms") is not None:
                headers.append(("retry-after-ms", str(script["retry_after_ms"])))
            plan.error = (status, _error_body(status, script.get("error_message"),
                                              script.get("error_type"),
                                              script.get("error_code")), headers)
            return plan

    if script.get("tokens") is not None:
        count = int(script["tokens"])
        plan.tokens = [f"tok{i} " for i in range(count)]
        if plan.tokens:
            plan.tokens[-1] = plan.tokens[-1].rstrip()
    elif script.get("text") is not None:
        plan.tokens = _tokens_of(str(script["text"]))
    elif script.get("tool_calls"):
        plan.has_text = False
    else:
        plan.tokens = _tokens_of(default_text)
    for call in script.get("tool_calls") or []:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise _BadRequest("model_server: each SCRIPT tool call needs a string 'name'")
        arguments = call.get("arguments", {})
        plan.tool_calls.append(
            (call["name"], arguments if isinstance(arguments, str) else json.dumps(arguments)))
    plan.chunk_tokens = max(1, int(script.get("chunk_tokens") or 1))
    plan.ignore_max_tokens = bool(script.get("ignore_max_tokens"))
    plan.hang = bool(script.get("hang"))
    plan.hang_s = float(script.get("hang_s") or DEFAULT_HANG_S)
    default_delay = DEFAULT_HANG_CHUNK_DELAY_MS if plan.hang else 0
    chunk_delay = script.get("chunk_delay_ms")
    plan.chunk_delay_ms = float(default_delay if chunk_delay is None else chunk_delay)
    return plan


def _step(script: dict[str, Any], after: list[Any]) -> dict[str, Any] | None:
    """steps[k] where k is the number of assistant messages in `after`, or None past the end."""
    k = sum(1 for m in after if isinstance(m, dict) and m.get("role") == "assistant")
    steps = script["steps"]
    if k >= len(steps):
        return None
    step = steps[k]
    if not isinstance(step, dict):
        raise _BadRequest("model_server: each SCRIPT step must be a JSON object")
    return {**step, "_step": k}


# --------------------------------------------------------------------------- server

class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}
        self.chat_count = 0
        self.open_chats = 0
        self.peak_chats = 0
        # Notified whenever the peak rises, for the requests that gather.
        self.peak_rose = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.verbose = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int]) -> None:
        self.state = _State()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "treadle-model-server/1"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    # ---- connection bookkeeping

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.verbose:
            super().log_message(format, *args)

    # ---- low level I/O

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _head(self, status: int, content_type: str, length: int | None,
              extra: Sequence[tuple[str, str]] = ()) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Type: {content_type}",
                 f"Date: {self.date_time_string()}", f"Server: {self.server_version}",
                 f"x-request-id: req_{_alnum_id(str(time.perf_counter_ns()), 16)}"]
        if length is None:
            if self.request_version == "HTTP/1.1":
                lines.append("Transfer-Encoding: chunked")
            else:
                self.close_connection = True
        else:
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, data: bytes, final: bool = False) -> None:
        """Write to the client; `final`: the last bytes of a recorded request's response.

        A final write marks the record completed just before it goes out (so a client that
        has read the whole response always sees it completed); if the write fails the record
        is marked disconnected instead.
        """
        record = self._record if final else None
        if record is not None:
            record["completed"] = True
        try:
            self.wfile.write(data)
        except OSError as exc:  # BrokenPipe, ConnectionReset, ... : the client went away
            self.close_connection = True
            if record is not None:
                record["completed"] = False
            raise _Disconnected() from exc

    def _send_json(self, status: int, obj: Any, extra: Sequence[tuple[str, str]] = ()) -> None:
        body = _dumps(obj).encode()
        self._write(self._head(status, "application/json", len(body), extra) + body, final=True)

    def _readable(self, seconds: float) -> bool:
        """Whether the client sent something or closed, waiting up to `seconds`. poll, not
        select: select refuses descriptors past 1024, and a benchmark holds thousands."""
        poller = select.poll()
        poller.register(self.connection, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(max(0, math.ceil(seconds * 1000))))

    def _peer_closed(self) -> bool:
        try:
            return self._readable(0) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _wait(self, ms: float) -> None:
        """Sleep `ms` milliseconds; raise _Disconnected if the client goes away meanwhile.

        The sleep is a wait on the socket, so a client that closes wakes it at once, and
        `stop()` (which shuts every connection down) too; thousands of delayed requests cost
        no CPU while they wait. A client that sent more bytes is looked at every 50 ms.
        """
        deadline = time.monotonic() + ms / 1000
        while True:
            if self._peer_closed() or self.server.state.stopping.is_set():
                self.close_connection = True
                raise _Disconnected()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                if self._readable(remaining):
                    time.sleep(min(remaining, 0.05))
            except OSError:
                self.close_connection = True
                raise _Disconnected() from None

    def _gather(self, count: int, seconds: float) -> None:
        """Wait until `count` chat requests have been open at once, or `seconds` pass; raise
        _Disconnected if the client goes away meanwhile."""
        state = self.server.state
        deadline = time.monotonic() + seconds
        while True:
            with state.lock:
                remaining = deadline - time.monotonic()
                if state.peak_chats >= count or remaining <= 0:
                    return
                state.peak_rose.wait(min(remaining, 0.25))
            if self._peer_closed() or state.stopping.is_set():
                self.close_connection = True
                raise _Disconnected()

    # ---- routing

    def _route(self, method: str) -> None:
        self._record: dict[str, Any] | None = None
        try:
            path = urlsplit(self.path).path.rstrip("/")
            if path.startswith("/v1/"):
                path = path[3:]
            elif path == "/v1":
                path = ""
            if method == "POST" and path == "/chat/completions":
                self._chat()
            elif method == "POST" and path == "/embeddings":
                self._embeddings()
            elif method == "GET" and path == "/models":
                self._send_json(200, {"object": "list", "data": [_model_object(MODEL)]})
            elif method == "GET" and path.startswith("/models/"):
                self._send_json(200, _model_object(path[len("/models/"):]))
            elif path == "/_requests" and method in ("GET", "DELETE"):
                self._requests_endpoint(method)
            elif path == "/_concurrency" and method == "GET":
                self._read_body()
                with self.server.state.lock:
                    counts = {"open": self.server.state.open_chats,
                              "peak": self.server.state.peak_chats}
                self._send_json(200, counts)
            elif path in ("/_health", "/health") and method == "GET":
                self._send_json(200, {"status": "ok"})
            else:
                self._read_body()
                self._send_json(404, _error_body(
                    404, f"Unknown request URL: {method} {self.path}.", code="unknown_url"))
        except _Disconnected:
            self.close_connection = True
            if self._record is not None:
                self._record["disconnected"] = True
        except Exception:
            self.close_connection = True
            traceback.print_exc(file=sys.stderr)
            with contextlib.suppress(Exception):
                self._send_json(500, _error_body(500, "model_server: internal error"))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _requests_endpoint(self, method: str) -> None:
        self._read_body()
        state = self.server.state
        if method == "DELETE":
            with state.lock:
                state.records.clear()
                state.seen.clear()
                state.peak_chats = state.open_chats
            self._send_json(200, {"deleted": True})
            return
        wanted = parse_qs(urlsplit(self.path).query).get("path", [None])[0]
        with state.lock:
            payload = _dumps([r for r in state.records if wanted is None or r["path"] == wanted])
        body = payload.encode()
        self._write(self._head(200, "application/json", len(body)) + body)

    def _parse_json(self, record_path: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        raw = self._read_body()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        record = {"path": record_path, "body": body,
                  "stream": bool(isinstance(body, dict) and body.get("stream")),
                  "status": None, "completed": False, "disconnected": False,
                  "headers": {k.lower(): v for k, v in self.headers.items()},
                  "client": "{}:{}".format(*self.client_address[:2])}
        with self.server.state.lock:
            self.server.state.records.append(record)
        self._record = record
        return (body if isinstance(body, dict) else None), record

    def _finish_error(self, record: dict[str, Any], status: int, body: dict[str, Any],
                      extra: Sequence[tuple[str, str]] = ()) -> None:
        record["status"] = status
        self._send_json(status, body, extra)

    # ---- chat completions

    def _chat(self) -> None:
        state = self.server.state
        with state.lock:
            state.open_chats += 1
            if state.open_chats > state.peak_chats:
                state.peak_chats = state.open_chats
                state.peak_rose.notify_all()
        try:
            self._answer_chat()
        finally:
            with state.lock:
                state.open_chats -= 1

    def _answer_chat(self) -> None:
        body, record = self._parse_json("/v1/chat/completions")
        state = self.server.state
        with state.lock:
            index = state.chat_count
            state.chat_count += 1
        if body is None:
            self._finish_error(record, 400, _error_body(
                400, "We could not parse the JSON body of your request."))
            return
        try:
            plan = _make_plan(body, state)
            limit = body.get("max_completion_tokens")
            if limit is None:
                limit = body.get("max_tokens")
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise _BadRequest("max_completion_tokens must be an integer >= 1",
                                  "max_completion_tokens")
        except _BadRequest as exc:
            self._finish_error(record, 400, _error_body(400, exc.message, param=exc.param))
            return
        if plan.ignore_max_tokens:
            limit = None
        try:
            if plan.gather:
                self._gather(plan.gather, plan.gather_s)
            if plan.delay_ms:
                self._wait(plan.delay_ms)
            if plan.error is not None:
                status, error_body, extra = plan.error
                self._finish_error(record, status, error_body, extra)
                return
            record["status"] = 200
            completion_id = "chatcmpl-" + _alnum_id(f"chatcmpl:{index}", 29)
            call_ids = [f"call_{_alnum_id(f'call:{index}:{i}')}"
                        for i in range(len(plan.tool_calls))]
            if record["stream"]:
                self._stream(body, plan, limit, completion_id, call_ids)
            else:
                self._complete(body, plan, limit, completion_id, call_ids)
        except _Disconnected:
            record["disconnected"] = True

    def _complete(self, body: dict[str, Any], plan: _Plan, limit: int | None,
                  completion_id: str, call_ids: list[str]) -> None:
        if plan.hang:
            self._wait(plan.hang_s * 1000)
        tokens = plan.tokens
        cut = limit is not None and len(tokens) > limit
        if cut:
            tokens = tokens[:limit]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(tokens) if plan.has_text else None,
            "refusal": None, "annotations": [],
        }
        completion = len(tokens)
        finish = "length" if cut else "stop"
        if plan.tool_calls and not cut:
            message["tool_calls"] = [
                {"id": call_id, "type": "function",
                 "function": {"name": name, "arguments": arguments}}
                for call_id, (name, arguments) in zip(call_ids, plan.tool_calls, strict=True)
            ]
            completion += sum(max(1, len(arguments.split())) for _, arguments in plan.tool_calls)
            finish = "tool_calls"
        self._send_json(200, {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or MODEL,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": _usage(_prompt_tokens(body["messages"]), completion),
            "service_tier": "default", "system_fingerprint": FINGERPRINT,
        })

    def _stream(self, body: dict[str, Any], plan: _Plan, limit: int | None,
                completion_id: str, call_ids: list[str]) -> None:
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage"))
        prefix = ('data: {"id":"' + completion_id + '","object":"chat.completion.chunk",'
                  '"created":' + str(int(time.time())) + ',"model":'
                  + _dumps(body.get("model") or MODEL)
                  + ',"service_tier":"default","system_fingerprint":"' + FINGERPRINT
                  + '","choices":[')
        suffix = '],"usage":null}\n\n' if include_usage else "]}\n\n"
        content_head = prefix + '{"index":0,"delta":{"content":'
        content_tail = '},"logprobs":null,"finish_reason":null}' + suffix
        chunked = self.request_version == "HTTP/1.1"
        state: dict[str, Any] = {"tokens": 0, "cut": False, "calls": False}

        def frame(event: str) -> bytes:
            data = event.encode()
            return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

        def choice(delta: dict[str, Any], finish: str | None = None) -> str:
            return (prefix + '{"index":0,"delta":' + _dumps(delta)
                    + ',"logprobs":null,"finish_reason":' + _dumps(finish) + "}" + suffix)

        def events() -> Iterator[str]:
            """The role chunk, content chunks and tool call chunks."""
            tokens: Iterable[str] = plan.tokens
            if plan.hang:
                tokens = _hang_tokens(plan.tokens, time.monotonic() + plan.hang_s)
            elif limit is not None and len(plan.tokens) > limit:
                tokens, state["cut"] = plan.tokens[:limit], True
            calls = [] if (state["cut"] or plan.hang) else list(
                zip(call_ids, plan.tool_calls, strict=True))
            state["calls"] = bool(calls)
            if plan.has_text or not calls:
                yield choice({"role": "assistant", "content": "", "refusal": None})
            group: list[str] = []
            for token in tokens:
                if limit is not None and state["tokens"] >= limit:
                    state["cut"] = True
                    break
                group.append(token)
                state["tokens"] += 1
                if len(group) >= plan.chunk_tokens:
                    yield content_head + _dumps("".join(group)) + content_tail
                    group = []
            if group:
                yield content_head + _dumps("".join(group)) + content_tail
            for position, (call_id, (name, arguments)) in enumerate(calls):
                header: dict[str, Any] = {"index": position, "id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": ""}}
                if position == 0 and not plan.has_text:
                    yield choice({"role": "assistant", "content": None, "tool_calls": [header],
                                  "refusal": None})
                else:
                    yield choice({"tool_calls": [header]})
                fragments = _tokens_of(arguments)
                state["tokens"] += max(1, len(arguments.split()))
                for start in range(0, len(fragments), plan.chunk_tokens):
                    piece = "".join(fragments[start:start + plan.chunk_tokens])
                    yield choice({"tool_calls": [{"index": position,
                                                  "function": {"arguments": piece}}]})

        def closing() -> bytes:
            """The finish chunk, the usage chunk, [DONE] and the end of the body, in one go."""
            finish = "length" if state["cut"] else ("tool_calls" if state["calls"] else "stop")
            out = [frame(choice({}, finish))]
            if include_usage:
                out.append(frame(
                    prefix + '],"usage":'
                    + _dumps(_usage(_prompt_tokens(body["messages"]), state["tokens"]))
                    + "}\n\n"))
            out.append(frame("data: [DONE]\n\n"))
            if chunked:
                out.append(b"0\r\n\r\n")
            return b"".join(out)

        head = self._head(200, "text/event-stream; charset=utf-8", None)
        if not chunked:
            self.close_connection = True
        if plan.chunk_delay_ms <= 0 and not plan.hang:
            self._write(head + b"".join(frame(event) for event in events()) + closing(),
                        final=True)
            return
        pending = head
        for event in events():
            if not pending:
                self._wait(plan.chunk_delay_ms)
            self._write(pending + frame(event))
            pending = b""
        self._wait(plan.chunk_delay_ms)
        self._write(closing(), final=True)

    # ---- embeddings

    def _embeddings(self) -> None:
        body, record = self._parse_json("/v1/embeddings")
        if body is None:
            self._finish_error(record, 400, _error_body(
                400, "We could not parse the JSON body of your request."))
            return
        try:
            texts = _embedding_inputs(body.get("input"))
            dimensions = body.get("dimensions")
            dimensions = DEFAULT_DIMENSIONS if dimensions is None else dimensions
            if not isinstance(dimensions, int) or dimensions < 1:
                raise _BadRequest("dimensions must be an integer >= 1", "dimensions")
            encoding = body.get("encoding_format") or "float"
            if encoding not in ("float", "base64"):
                raise _BadRequest("encoding_format must be 'float' or 'base64'",
                                  "encoding_format")
        except _BadRequest as exc:
            self._finish_error(record, 400, _error_body(400, exc.message, param=exc.param))
            return
        data = []
        words = 0
        for i, text in enumerate(texts):
            vector = embed(text, dimensions)
            words += max(1, len(text.split()))
            value: Any = vector
            if encoding == "base64":
                value = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        record["status"] = 200
        self._send_json(200, {"object": "list", "data": data,
                              "model": body.get("model") or MODEL,
                              "usage": {"prompt_tokens": words, "total_tokens": words}})


def _hang_tokens(tokens: list[str], deadline: float) -> Iterator[str]:
    for token in tokens:
        yield token if token[-1:].isspace() else token + " "
    i = len(tokens)
    while time.monotonic() < deadline:
        yield f"tok{i} "
        i += 1


def _embedding_inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        texts = [" ".join(map(str, value))]
    elif isinstance(value, list) and value:
        texts = []
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, list) and all(isinstance(v, int) for v in item):
                texts.append(" ".join(map(str, item)))
            else:
                raise _BadRequest("'input' must be a string or an array of strings", "input")
    else:
        raise _BadRequest("'input' must be a non-empty string or array", "input")
    if any(text == "" for text in texts):
        raise _BadRequest("'$.input' is invalid: empty strings are not allowed", "input")
    return texts


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000,
            "owned_by": "treadle-tests"}


# --------------------------------------------------------------------------- public API

class ModelServer:
    """The model server in a background thread of this process.

    >>> with ModelServer() as server:
    ...     client = OpenAI(base_url=server.url, api_key="x")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _Server((self._host, self._port))
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="model-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ModelServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no `/v1`)."""
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: the `base_url` for an OpenAI client."""
        return f"{self.base_url}/v1"

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        state = httpd.state
        state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with state.lock:
            connections = list(state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Copies of the recorded requests, oldest first (only `path`'s when given)."""
        if self._httpd is None:
            raise RuntimeError("ModelServer is not started")
        state = self._httpd.state
        with state.lock:
            payload = _dumps([r for r in state.records if path is None or r["path"] == path])
        result: list[dict[str, Any]] = json.loads(payload)
        return result

    def clear(self) -> None:
        """Forget recorded requests, `fail_times` counters and the peak of open requests."""
        if self._httpd is None:
            raise RuntimeError("ModelServer is not started")
        state = self._httpd.state
        with state.lock:
            state.records.clear()
            state.seen.clear()
            state.peak_chats = state.open_chats

    def concurrency(self) -> dict[str, int]:
        """Chat completions open now and the most open at once (see `GET /_concurrency`)."""
        if self._httpd is None:
            raise RuntimeError("ModelServer is not started")
        state = self._httpd.state
        with state.lock:
            return {"open": state.open_chats, "peak": state.peak_chats}

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deterministic OpenAI-compatible model server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    httpd = _Server((args.host, args.port))
    httpd.state.verbose = args.verbose
    print(f"model server listening on http://{args.host}:{httpd.server_address[1]}/v1",
          flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.state.stopping.set()
        httpd.server_close()


if __name__ == "__main__":
    main()
