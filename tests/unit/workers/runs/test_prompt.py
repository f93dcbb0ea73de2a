"""The pure parts of `workers.runs.prompt`: what a chat message costs and how content converts.

Truncation itself is reachable only through `build(conn, run)`, so it is tested against
real rows in tests/integration/workers/test_prompt.py.
"""
from typing import Any, cast

from shared.storage.db import Conn
from workers.runs.prompt import IMAGE_TOKENS, MESSAGE_OVERHEAD, _chat_content, _tokens
from workers.tokens import count


class NoDatabase:
    """Content without image files never reaches the database."""

    def execute(self, *args: Any) -> Any:
        raise AssertionError("the database was read")


NO_DATABASE = cast(Conn, NoDatabase())


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def test_a_text_message_costs_its_tokens_and_framing() -> None:
    words = "The quick brown fox jumps over the lazy dog."
    assert _tokens({"role": "user", "content": words}) == MESSAGE_OVERHEAD + count(words)
    assert _tokens({"role": "user", "content": ""}) == MESSAGE_OVERHEAD


def test_parts_cost_their_text_and_a_flat_price_per_image() -> None:
    message = {"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]}
    assert _tokens(message) == MESSAGE_OVERHEAD + count("What is in these?") + 2 * IMAGE_TOKENS


def test_tool_calls_cost_their_name_and_arguments() -> None:
    arguments = '{"query": "quarterly revenue"}'
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "file_search", "arguments": arguments}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": "{}"}},
    ]}
    assert _tokens(message) == (MESSAGE_OVERHEAD + count("file_search") + count(arguments)
                                + count("get_weather") + count("{}"))
    tool = {"role": "tool", "tool_call_id": "call_1", "content": "Results: none."}
    assert _tokens(tool) == MESSAGE_OVERHEAD + count("Results: none.")


def test_text_parts_join_into_one_string() -> None:
    parts = [text("first paragraph"), text("second paragraph")]
    assert _chat_content(NO_DATABASE, parts) == "first paragraph\nsecond paragraph"
    assert _chat_content(NO_DATABASE, []) == ""


def test_an_image_url_makes_content_parts() -> None:
    image = {"url": "https://example.com/chart.png", "detail": "low"}
    parts = [text("Describe this chart."), {"type": "image_url", "image_url": image}]
    assert _chat_content(NO_DATABASE, parts) == [
        {"type": "text", "text": "Describe this chart."},
        {"type": "image_url", "image_url": image},
    ]
