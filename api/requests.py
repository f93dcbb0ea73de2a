"""Checks every request passes before a view sees it: request id and content type."""
import uuid

import gevent
from flask import Response, g, request
from gevent import monkey

from shared.errors import InvalidRequestError

# Endpoints whose bodies are multipart uploads; every other body must be JSON.
MULTIPART_ENDPOINTS = frozenset({"files.Files"})


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


def yield_to_other_connections(_error: BaseException | None) -> None:
    """Under gevent, let the worker's other connections in after each request: a keep-alive
    client whose next request is already buffered would otherwise be served again first."""
    if monkey.is_module_patched("socket"):
        gevent.sleep(0)


def add_request_id(response: Response) -> Response:
    response.headers["x-request-id"] = g.get("request_id") or "req_" + uuid.uuid4().hex
    return response
