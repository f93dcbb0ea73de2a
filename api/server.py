"""The gunicorn worker and logger the API runs with (`treadle api` names them by module path).

The worker is gevent's, with the answers gunicorn writes itself, to requests it refuses
before the app runs (a request line or header too large, a malformed request), as OpenAI
error JSON instead of gunicorn's HTML page; and idle keep-alive connections closed as soon
as the worker stops."""
import contextlib
import json
import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import gevent
from greenlet import greenlet
from gunicorn import glogging, util
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from shared.errors import InvalidRequestError

_STATUSES: dict[type[Exception], tuple[int, str]] = {
    http_errors.LimitRequestLine: (414, "URI Too Long"),
    http_errors.LimitRequestHeaders: (431, "Request Header Fields Too Large"),
    http_errors.ExpectationFailed: (417, "Expectation Failed"),
    http_errors.UnsupportedTransferCoding: (501, "Not Implemented"),
    http_errors.ForbiddenProxyRequest: (403, "Forbidden"),
}
# Parse errors that are not the client's: gunicorn answers them (500) as it does.
_NOT_THE_CLIENTS = (http_errors.ConfigurationProblem, http_errors.InvalidResponseHeader,
                    http_errors.InvalidResponseHeaderName)


def error_answer(exc: Exception) -> bytes:
    """The whole HTTP answer to a request gunicorn refused with `exc`."""
    status, reason = _STATUSES.get(type(exc), (400, "Bad Request"))
    body = json.dumps(InvalidRequestError(f"{reason}: {exc}.").to_dict()).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"x-request-id: req_{uuid.uuid4().hex}\r\n\r\n")
    return head.encode("latin-1") + body


class Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, which makes no access line that nothing would print: given a
    logging configuration, gunicorn made one for every request (1.6% of an API process'
    CPU), which the access logger, at WARNING unless raised, then dropped."""

    @property
    def access_log_enabled(self) -> bool:
        return bool(super().access_log_enabled) and self.access_log.isEnabledFor(logging.INFO)


class Worker(GeventWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Connections waiting for their next request, each with the timer that ends the wait.
        self._waiting: dict[greenlet, gevent.Timeout] = {}

    @contextlib.contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        timer = gevent.Timeout(self.cfg.keepalive, False)
        current = gevent.getcurrent()
        self._waiting[current] = timer
        try:
            with timer:
                yield
        finally:
            self._waiting.pop(current, None)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # An idle keep-alive connection would hold a stopping worker for the whole graceful
        # timeout (keep-alive is long): end their waits now, from the hub, as a timer does.
        gevent.get_hub().loop.run_callback(self._end_waits)

    def _end_waits(self) -> None:
        for waiting, timer in list(self._waiting.items()):
            if self._waiting.get(waiting) is timer:
                waiting.throw(timer)

    def handle_error(self, req: Any, client: socket.socket, addr: Any,
                     exc: Exception) -> None:
        if (not isinstance(exc, http_errors.ParseException)
                or isinstance(exc, _NOT_THE_CLIENTS)):
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        with contextlib.suppress(OSError):  # the client may have gone already
            util.write_nonblock(client, error_answer(exc))
