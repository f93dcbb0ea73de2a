"""The pure parts of `workers.runs.prompt`: what a chat message costs, how content converts,
how a prompt is fitted to its budget, and the chat request that sends it and what it costs.

`build(conn, run)`, which reads the thread and the run's steps, is tested against real rows
in tests/integration/workers/runs/test_prompt.py.
"""
import json
from typing import Any, cast

import pytest

from shared.storage.db import Conn
from workers.runs.prompt import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    Prompt,
    _chat_content,
    _tokens,
    chat_request,
    fitted,
    request_tokens,
)
from workers.runs.tools import file_search
from workers.runs.tools.resources import Resources
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


def said(role: str, value: str) -> dict[str, Any]:
    return {"role": role, "content": value}


SYSTEM = [said("system", "Be brief.")]
THREAD = [said("user", "first question " * 10), said("assistant", "first answer " * 10),
          said("user", "second question " * 10), said("assistant", "second answer " * 10),
          said("user", "the latest question")]


def cost(messages: list[dict[str, Any]]) -> int:
    return sum(_tokens(m) for m in messages)


def test_a_prompt_within_budget_is_whole() -> None:
    prompt = fitted(SYSTEM, THREAD, [], 10_000, truncate=True, pair=False)
    assert prompt == Prompt(SYSTEM + THREAD, cost(SYSTEM + THREAD))


def test_truncation_drops_the_middle_of_the_thread() -> None:
    budget = cost([*SYSTEM, THREAD[0], THREAD[-1]])
    prompt = fitted(SYSTEM, THREAD, [], budget, truncate=True, pair=False)
    assert prompt.messages == [*SYSTEM, THREAD[0], THREAD[-1]]
    assert prompt.tokens == budget
    # Disabled, the thread stays whole past its budget: the caller decides.
    whole = fitted(SYSTEM, THREAD, [], budget, truncate=False, pair=False)
    assert whole.messages == SYSTEM + THREAD and whole.tokens > budget


def test_pairing_leaves_out_a_call_never_answered() -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    prompt = fitted([], [said("user", "hi"), call, said("user", "well?")], [], 10_000,
                    truncate=True, pair=True)
    assert prompt.messages == [said("user", "hi"), said("user", "well?")]
    assert prompt.tokens == cost(prompt.messages)


def run_of(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "tools": [], "tool_choice": "auto", "parallel_tool_calls": True,
            "temperature": None, "top_p": None, "reasoning_effort": None,
            "response_format": "auto", **fields}


FUNCTION = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
PROMPT = Prompt([said("user", "Weather in Oslo?")], _tokens(said("user", "Weather in Oslo?")))


def no_resources() -> Resources:
    raise AssertionError("resources were asked for without a built-in tool")


def test_a_request_offers_the_runs_tools() -> None:
    request = chat_request(run_of(tools=[FUNCTION]), PROMPT, no_resources, None, 50)
    assert request == {"model": "m", "messages": PROMPT.messages, "tools": [FUNCTION],
                       "parallel_tool_calls": True, "tool_choice": "auto",
                       "max_completion_tokens": 50}
    assert chat_request(run_of(), PROMPT, no_resources, None, None) == {
        "model": "m", "messages": PROMPT.messages}


def test_built_in_tools_go_once_max_tool_calls_is_reached() -> None:
    run = run_of(tools=[{"type": "file_search"}, FUNCTION],
                 tool_choice={"type": "file_search"})
    offered = chat_request(run, PROMPT, Resources, None, None)
    assert [t["function"]["name"] for t in offered["tools"]] == ["file_search", "get_weather"]
    assert offered["tool_choice"] == {"type": "function", "function": {"name": "file_search"}}
    spent = chat_request(run, PROMPT, no_resources, 0, None)
    assert spent["tools"] == [FUNCTION] and spent["tool_choice"] == "auto"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def test_a_request_costs_its_prompt_tools_and_format() -> None:
    assert request_tokens(PROMPT, {"messages": PROMPT.messages}) == PROMPT.tokens
    schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
    request = chat_request(run_of(tools=[{"type": "file_search"}, FUNCTION],
                                  response_format=schema), PROMPT, Resources, None, None)
    definition = {"type": "function", "function": file_search.definition({}, Resources())}
    assert request_tokens(PROMPT, request) == (
        PROMPT.tokens + count(compact([definition, FUNCTION])) + count(compact(schema)))


@pytest.mark.parametrize("order", [("type", "function"), ("function", "type")])
def test_a_tools_cost_does_not_depend_on_its_key_order(order: tuple[str, str]) -> None:
    tool = {key: FUNCTION[key] for key in order}
    assert request_tokens(PROMPT, {"messages": PROMPT.messages, "tools": [tool]}) == (
        PROMPT.tokens + count(compact([FUNCTION])))
