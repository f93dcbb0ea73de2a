"""Waiting in a test for something a real process does, with a bound."""
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], seconds: float = 60.0, what: str = "condition",
             every: float = 0.1) -> Any:
    """The predicate's first truthy value, polled every `every` seconds; fails after
    `seconds` saying `what` was not reached."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not reached in {seconds:g} s")
