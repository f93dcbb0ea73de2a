"""Scripting the model server from a test: a SCRIPT message says what the model answers,
and the chat requests that carried a marker are found again on the server."""
import json
from typing import Any

import openai
import pytest

CHAT = "/v1/chat/completions"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def script(**plan: Any) -> str:
    """A user message the model server answers as `plan` says (tests/support/model_server)."""
    return "SCRIPT: " + json.dumps(plan)


def marked(marker: str, **plan: Any) -> str:
    """A script behind a line of its own, which finds its chat requests again (`sent`)."""
    return f"{marker}\n" + script(**plan)


def sent(model_server: Any, marker: str) -> list[dict[str, Any]]:
    """The chat requests whose body mentions `marker`, oldest first."""
    return [r for r in model_server.requests(CHAT) if marker in json.dumps(r["body"])]


def refused(exc_class: type[openai.APIStatusError], call: Any) -> dict[str, Any]:
    """The error body of `call()`, which must raise `exc_class`."""
    with pytest.raises(exc_class) as info:
        call()
    body = info.value.body
    assert isinstance(body, dict), body
    return body
