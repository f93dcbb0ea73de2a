"""The Response object from a responses row and its run, checked against the SDK's model."""
from typing import Any

import pytest

from shared.responses.wire import response_object

responses = pytest.importorskip("openai.types.responses")

ROW: dict[str, Any] = {
    "id": "resp_0123456789abcdefghijklmn", "created_at": 1_700_000_000,
    "previous_response_id": "resp_abcdefghijklmn0123456789", "conversation_id": None,
    "background": False, "store": True,
    "request": {"model": "test-model", "instructions": None, "tools": [
        {"type": "function", "name": "f", "parameters": {}, "strict": True}],
        "tool_choice": "auto", "parallel_tool_calls": True, "max_output_tokens": 50,
        "max_tool_calls": None, "text": {"format": {"type": "text"}},
        "truncation": "disabled", "include": [], "metadata": {"k": "v"},
        "temperature": None, "top_p": None, "user": "u-1", "reasoning": None,
        "prompt": None},
}
USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


def _run(status: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "model": "test-model", "instructions": "", "usage": USAGE,
            "last_error": None, "completed_at": 1_700_000_005, "temperature": 0.7,
            "top_p": None, **fields}


def _sdk(value: dict[str, Any]) -> Any:
    return responses.Response.model_validate(value)


@pytest.mark.parametrize(("run_status", "status"), [
    ("queued", "queued"), ("in_progress", "in_progress"), ("cancelling", "in_progress"),
    ("completed", "completed"), ("incomplete", "incomplete"), ("failed", "failed"),
    ("cancelled", "cancelled"), ("expired", "failed")])
def test_status_map(run_status: str, status: str) -> None:
    made = response_object(ROW, _run(run_status), [])
    assert made["status"] == status
    assert _sdk(made).status == status


def test_usage_only_once_ended() -> None:
    assert response_object(ROW, _run("in_progress"), [])["usage"] is None
    usage = response_object(ROW, _run("completed"), [])["usage"]
    assert usage == {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14,
                     "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                     "output_tokens_details": {"reasoning_tokens": 0}}


def test_request_is_echoed_and_the_run_fills_the_rest() -> None:
    made = response_object(ROW, _run("completed"), [])
    assert made["tools"] == ROW["request"]["tools"]
    assert made["metadata"] == {"k": "v"}
    assert made["max_output_tokens"] == 50
    assert made["user"] == "u-1"
    assert made["previous_response_id"] == ROW["previous_response_id"]
    assert made["instructions"] is None
    assert made["temperature"] == 0.7
    assert made["completed_at"] == 1_700_000_005
    assert "output_text" not in made
    parsed = _sdk(made)
    assert parsed.output_text == ""
    assert parsed.conversation is None


def test_bridged_instructions_come_from_the_run() -> None:
    made = response_object(ROW, _run("completed", instructions="Be terse."), [])
    assert made["instructions"] == "Be terse."


def test_failed_and_expired_carry_an_error() -> None:
    failed = response_object(ROW, _run("failed", last_error={
        "code": "rate_limit_exceeded", "message": "Slow down."}), [])
    assert failed["error"] == {"code": "rate_limit_exceeded", "message": "Slow down."}
    other = response_object(ROW, _run("failed", last_error={
        "code": "invalid_request_error", "message": "Bad."}), [])
    assert other["error"]["code"] == "server_error"
    expired = response_object(ROW, _run("expired"), [])
    assert expired["error"]["code"] == "server_error"
    for made in (failed, other, expired):
        assert made["completed_at"] is None
        _sdk(made)


def test_incomplete_says_why() -> None:
    made = response_object(ROW, _run("incomplete", incomplete_details={
        "reason": "max_completion_tokens"}), [])
    assert made["incomplete_details"] == {"reason": "max_output_tokens"}
    assert _sdk(made).incomplete_details.reason == "max_output_tokens"


def test_conversation_is_named() -> None:
    row = {**ROW, "conversation_id": "conv_1", "previous_response_id": None}
    assert _sdk(response_object(row, _run("completed"), [])).conversation.id == "conv_1"
