"""One error hierarchy; the HTTP status and OpenAI error type live on the class."""
from typing import Any


class TreadleError(Exception):
    status: int = 500
    type: str = "server_error"
    default_code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(TreadleError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(TreadleError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFoundError(TreadleError):
    status = 404
    type = "invalid_request_error"


class MethodNotAllowedError(TreadleError):
    status = 405
    type = "invalid_request_error"


class ConflictError(TreadleError):
    status = 409
    type = "invalid_request_error"


class ServerError(TreadleError):
    status = 500
    type = "server_error"


class ServiceUnavailableError(TreadleError):
    status = 503
    type = "server_error"


class IllegalMoveError(Exception):
    """A status move no state machine allows, whatever the current status: a bug in the
    caller, never an answer to a request."""


def json_type_name(value: Any) -> str:
    """What a decoded JSON value is, in the words of OpenAI's errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"
