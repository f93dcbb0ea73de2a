"""A create-response body checked and translated into the run that executes it (pure)."""
from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.responses.requests import bridged, parse_count_request, parse_request

ASSISTANT = {"id": "asst_1", "model": "asst-model", "instructions": "Assistant says.",
             "temperature": 0.3, "top_p": None,
             "tools": [{"type": "code_interpreter"},
                       {"type": "function", "function": {"name": "f", "parameters": {}}}],
             "tool_resources": {"code_interpreter": {"file_ids": ["file-a"]},
                                "file_search": {"vector_store_ids": ["vs_x"]}}}


def test_defaults_as_openai_gives_them() -> None:
    request = parse_request({"model": "m", "input": "hi"})
    assert request.store and not request.background
    assert request.echo["truncation"] == "disabled" and request.echo["tool_choice"] == "auto"
    assert request.echo["text"] == {"format": {"type": "text"}}
    assert request.echo["parallel_tool_calls"] is True and request.echo["tools"] == []
    assert request.run["response_format"] == "auto" and request.run["instructions"] == ""
    assert request.input[0]["role"] == "user" and request.input[0]["id"].startswith("msg_")


def test_tools_translate_to_the_assistants_shape() -> None:
    request = parse_request({"model": "m", "tool_choice": {"type": "file_search"}, "tools": [
        {"type": "file_search", "vector_store_ids": ["vs_a"], "max_num_results": 3,
         "filters": {"type": "eq", "key": "k", "value": "v"}},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "function", "name": "f", "description": "d", "strict": None}]})
    assert request.run["tools"] == [
        {"type": "file_search", "file_search": {
            "max_num_results": 3, "filters": {"type": "eq", "key": "k", "value": "v"}}},
        {"type": "code_interpreter"},
        {"type": "function", "function": {"name": "f", "description": "d"}}]
    assert request.run["tool_resources"] == {"file_search": {"vector_store_ids": ["vs_a"]},
                                             "code_interpreter": {"file_ids": []}}
    assert request.run["tool_choice"] == {"type": "file_search"}
    assert request.vector_store_ids() == [("vs_a", "tools[0].vector_store_ids[0]")]


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "tools": [{"type": "function", "name": "f"},
                              {"type": "function", "name": "f"}]}, "tools[1].name"),
    ({"model": "m", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}},
                              {"type": "code_interpreter", "container": {"type": "auto"}}]},
     "tools[1]"),
    ({"model": "m", "conversation": {"name": "x"}}, "conversation.name"),
    ({"model": "m", "metadata": {"k": 1}}, "metadata.k"),
    ({"model": "m", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": "m", "store": "yes"}, "store"),
])
def test_refusals_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_request(body)
    assert refused.value.param == param


def test_the_bridge_fills_what_the_body_leaves_out() -> None:
    request = bridged(parse_request({"prompt": {"id": "asst_1"}, "top_p": 0.5}), ASSISTANT)
    assert request.model == "asst-model" and request.run["model"] == "asst-model"
    assert request.run["instructions"] == "Assistant says."
    assert (request.run["temperature"], request.run["top_p"]) == (0.3, 0.5)
    assert request.run["tools"] == ASSISTANT["tools"]
    assert request.run["tool_resources"] == {"code_interpreter": {"file_ids": ["file-a"]}}
    assert request.echo["tools"] == [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-a"]}},
        {"type": "function", "name": "f", "parameters": {}}]
    own = bridged(parse_request({"prompt": {"id": "asst_1"}, "model": "mine",
                                 "instructions": "Mine.", "temperature": 1}), ASSISTANT)
    assert (own.model, own.run["instructions"], own.run["temperature"]) == ("mine", "Mine.", 1)


def test_a_count_checks_the_shared_fields_as_a_create_does() -> None:
    body = {"model": "m", "input": "hi", "instructions": "Be brief.", "truncation": "auto",
            "tools": [{"type": "function", "name": "f"}], "tool_choice": "required",
            "text": {"format": {"type": "json_object"}}, "reasoning": {"effort": "low"},
            "parallel_tool_calls": False, "previous_response_id": "resp_abc"}
    counted, created = parse_count_request(body), parse_request(body)
    assert (counted.run, counted.echo) == (created.run, created.echo)
    assert counted.previous_response_id == "resp_abc"
    assert [item["content"] for item in counted.input] == [
        item["content"] for item in created.input]
    # The model may be left out (or null, as the SDK sends an omitted Optional it was given).
    assert parse_count_request({"input": "hi", "instructions": None}).run["model"] is None


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content", "invalid_type"),
    ({"input": "x", "truncation": "sometimes"}, "truncation", "invalid_value"),
    ({"input": "x", "previous_response_id": "resp_a", "conversation": "conv_b"},
     "conversation", "mutually_exclusive_parameters"),
    # What only a create takes is unknown to a count.
    ({"input": "x", "store": False}, "store", "unknown_parameter"),
    ({"input": "x", "prompt": {"id": "asst_1"}}, "prompt", "unknown_parameter"),
    ({"input": "x", "stream": True}, "stream", "unknown_parameter"),
    ({"input": "x", "personality": "friendly"}, "personality", "unknown_parameter"),
])
def test_a_count_refuses_as_a_create_does(body: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_count_request(body)
    assert (refused.value.param, refused.value.code) == (param, code)
