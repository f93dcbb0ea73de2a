"""Checks every request passes before a view sees it: request id, content type, body size;
and the deadline on reading its body."""
import contextlib
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from flask import Response, g, request
from gevent import monkey
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout
from werkzeug.wsgi import ClosingIterator

from shared.errors import InvalidRequestError

# Endpoints whose bodies are multipart uploads; every other body must be JSON.
MULTIPART_ENDPOINTS = frozenset({"files.Files"})
# A JSON body's ceiling: room for a thread's worth of messages at OpenAI's content cap,
# far below what would strain a worker. Uploads are capped by `max_file_bytes` as stored.
MAX_JSON_BODY_BYTES = 32 * 1024 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def assign_request_id() -> None:
    g.request_id = "req_" + uuid.uuid4().hex


def check_content_type() -> None:
    if request.method not in ("POST", "PUT", "PATCH") or not request.content_length:
        return
    expected = (
        "multipart/form-data" if request.endpoint in MULTIPART_ENDPOINTS else "application/json"
    )
    if request.mimetype != expected:
        raise InvalidRequestError(
            f"Unsupported content type: '{request.mimetype or 'none'}'. This API method only "
            f"accepts '{expected}' requests, but you specified the header "
            f"'Content-Type: {request.content_type or ''}'. Please try again with a supported "
            "content type.",
            code="unsupported_content_type",
        )


def limit_body_size() -> None:
    if request.endpoint in MULTIPART_ENDPOINTS:
        return
    # Also caps a body without Content-Length (chunked) as it is read.
    request.max_content_length = MAX_JSON_BODY_BYTES
    if (request.content_length or 0) > MAX_JSON_BODY_BYTES:
        raise RequestEntityTooLarge(
            f"Request body too large: {request.content_length} bytes; this endpoint accepts "
            f"at most {MAX_JSON_BODY_BYTES} bytes.")


class _TimedInput:
    """`wsgi.input` whose every read gives up after `seconds` without the client's bytes.

    werkzeug reads a body in chunks, so this bounds how long a client may stall, not how
    long a large upload may take."""

    def __init__(self, stream: Any, seconds: float):
        self._stream = stream
        self._seconds = seconds
        self.timed_out = False

    def _timed(self, method: Callable[..., Any], *args: Any) -> Any:
        timer = gevent.Timeout(self._seconds)
        try:
            with timer:
                return method(*args)
        except gevent.Timeout as fired:
            if fired is not timer:
                raise
            self.timed_out = True
            raise RequestTimeout(
                f"The request body was not received in time: the client sent nothing for "
                f"{self._seconds:g} seconds.") from None

    def read(self, *args: Any) -> bytes:
        return self._timed(self._stream.read, *args)  # type: ignore[no-any-return]

    def readline(self, *args: Any) -> bytes:
        return self._timed(self._stream.readline, *args)  # type: ignore[no-any-return]

    def readlines(self, *args: Any) -> list[bytes]:
        return self._timed(self._stream.readlines, *args)  # type: ignore[no-any-return]

    def __iter__(self) -> "_TimedInput":
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class BodyDeadline:
    """WSGI middleware: a client that stalls its request body gets a 408 (an OpenAI error,
    through the app's error handler) and then its connection closed, since gunicorn would
    otherwise wait on the rest of the body before the next request. gunicorn offers no body
    timeout of its own; this needs gevent's sockets (a no-op without them)."""

    def __init__(self, app: WSGIApp, seconds: float):
        self._app = app
        self._seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if not monkey.is_module_patched("socket"):
            return self._app(environ, start_response)
        body = _TimedInput(environ["wsgi.input"], self._seconds)
        environ["wsgi.input"] = body
        answer = self._app(environ, start_response)
        client = environ.get("gunicorn.socket")
        if not body.timed_out or client is None:
            return answer
        return ClosingIterator(answer, [lambda: _hang_up(client)])


def _hang_up(client: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client may have gone already
        client.shutdown(socket.SHUT_RDWR)


def yield_to_other_connections(_error: BaseException | None) -> None:
    """Under gevent, let the worker's other connections in after each request: a keep-alive
    client whose next request is already buffered would otherwise be served again first."""
    if monkey.is_module_patched("socket"):
        gevent.sleep(0)


def add_request_id(response: Response) -> Response:
    response.headers["x-request-id"] = g.get("request_id") or "req_" + uuid.uuid4().hex
    return response
