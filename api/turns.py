"""Each write takes a turn of its API process (`shared.platform.turns`); reads never do."""
from functools import lru_cache

from flask import Response, request

from api.requests import MULTIPART_ENDPOINTS
from shared.config import get_settings
from shared.platform.turns import Turns

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@lru_cache(maxsize=1)
def _turns() -> Turns:
    # Made on first use, in the worker process (gunicorn forks after importing the app).
    return Turns(get_settings().api_write_turns)


def take() -> None:
    if request.method in _READS or request.endpoint in MULTIPART_ENDPOINTS:
        # An upload's body arrives at its sender's pace: holding a turn meanwhile would
        # hold up every other write.
        return
    # The body first, for the same reason: a turn starts when the request is all here (a
    # stalled sender meets the body deadline without holding one).
    request.get_data(cache=True)
    _turns().take()


def give_back(response: Response) -> Response:
    """After the answer is ready: a streamed answer's events are sent without a turn."""
    _turns().give_back()
    return response


def give_back_on_teardown(_error: BaseException | None) -> None:
    """For a request that ended without reaching `give_back`."""
    _turns().give_back()
