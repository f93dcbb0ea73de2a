"""The one place where failures become OpenAI error responses."""
import logging
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, request
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from shared.errors import (
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    TreadleError,
)

log = logging.getLogger(__name__)

_TYPE_NAMES = {
    "Not a valid string.": "a string",
    "Not a valid integer.": "an integer",
    "Not a valid number.": "a number",
    "Not a valid boolean.": "a boolean",
    "Not a valid list.": "an array",
    "Not a valid mapping type.": "an object",
    "Invalid input type.": "an object",
    "Not a valid string or list of content parts.": "a string or an array of content parts",
}

_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The API expects a JSON payload, but what was sent "
    "was not valid JSON.)"
)


def _first_leaf(node: Any, path: list[Any]) -> tuple[list[Any], str]:
    """The path to the first message in webargs' nested error messages, and the message."""
    while True:
        if isinstance(node, dict) and node:
            key = next(iter(node))
            if key != "_schema":
                path.append(key)
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[0]
        else:
            return path, str(node) if node else "Invalid value."


def _param(path: list[Any]) -> str | None:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def validation_error(messages: dict[str, Any]) -> InvalidRequestError:
    """Translate marshmallow's first complaint into OpenAI's wording."""
    path, message = _first_leaf(messages, [])
    location = path.pop(0) if path else None
    param = _param(path)
    if location == "json" and param is None and message == "Invalid JSON body.":
        return InvalidRequestError(_BAD_JSON)
    if message == "Unknown field.":
        return InvalidRequestError(f"Unrecognized request argument supplied: {param}",
                                   param=param, code="unknown_parameter")
    if message == "Missing data for required field.":
        return InvalidRequestError(f"Missing required parameter: '{param}'.", param=param,
                                   code="missing_required_parameter")
    if message == "Field may not be null.":
        return InvalidRequestError(f"Invalid type for '{param}': expected a value, but got "
                                   "null instead.", param=param, code="invalid_type")
    if message in _TYPE_NAMES:
        if param is None:
            return InvalidRequestError(
                f"Invalid request body: expected {_TYPE_NAMES[message]}.", code="invalid_type"
            )
        return InvalidRequestError(f"Invalid type for '{param}': expected "
                                   f"{_TYPE_NAMES[message]}.", param=param, code="invalid_type")
    if param is None:
        return InvalidRequestError(f"Invalid request: {message}", code="invalid_value")
    return InvalidRequestError(f"Invalid '{param}': {message}", param=param,
                               code="invalid_value")


def render(error: TreadleError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    return response


def _http_error(exc: HTTPException) -> Response:
    messages = getattr(exc, "data", {}).get("messages")
    if messages:
        return render(validation_error(messages))
    if exc.code == 404:
        return render(NotFoundError(f"Invalid URL ({request.method} {request.path})"))
    if exc.code == 405:
        return render(MethodNotAllowedError(
            f"Method {request.method} is not allowed for {request.path}."
        ))
    if exc.code is not None and exc.code < 500:
        error = InvalidRequestError(exc.description or exc.name)
        error.status = exc.code
        return render(error)
    log.error("http error %s on %s", exc.code, request.path)
    return render(ServerError("The server had an error while processing your request."))


def _unexpected(exc: Exception) -> Response:
    # Postgres refuses some values only when they are written (NUL characters, numbers out of
    # range, unpaired surrogates); those come from the request, so they are the client's 400.
    if isinstance(exc, psycopg.DataError | UnicodeEncodeError):
        return render(InvalidRequestError(f"Invalid value in request: {exc}".splitlines()[0]))
    if isinstance(exc, RecursionError):
        return render(InvalidRequestError("The JSON body is nested too deeply."))
    if isinstance(exc, psycopg.OperationalError | PoolTimeout | RedisError):
        log.error("storage unavailable on %s %s: %s", request.method, request.path, exc)
        return render(ServiceUnavailableError("A storage service is unavailable; retry soon."))
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render(ServerError("The server had an error while processing your request."))


def register(app: Flask) -> None:
    app.register_error_handler(TreadleError, render)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
