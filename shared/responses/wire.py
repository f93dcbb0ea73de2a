"""The Response object on the wire: what the create request asked for (the `responses` row),
how far its run got (the run row, or the run object of its latest event), and its output
items. Pure, so the answer of a create, a retrieve and the events of a stream agree.

`output_text` is left out: the SDK computes it from the output.
"""
from typing import Any

from shared.runs.states import TERMINAL

STATUSES = {"queued": "queued", "in_progress": "in_progress", "cancelling": "in_progress",
            "requires_action": "in_progress", "completed": "completed",
            "incomplete": "incomplete", "failed": "failed", "cancelled": "cancelled",
            "expired": "failed"}
# The codes the Responses API gives a failed response; a run's other codes show as these.
ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})
EXPIRED = {"code": "server_error",
           "message": "The response expired: it did not end within the time allowed."}
# The request's fields echoed on the object as given, and their defaults when not given.
ECHOED: dict[str, Any] = {
    "instructions": None, "tools": [], "tool_choice": "auto",
    "text": {"format": {"type": "text"}}, "truncation": "disabled", "metadata": {},
    "user": None, "reasoning": None, "max_output_tokens": None, "max_tool_calls": None,
    "temperature": None, "top_p": None, "parallel_tool_calls": True, "prompt": None,
}


def status(run_status: str) -> str:
    return STATUSES[run_status]


def usage(run_usage: dict[str, int] | None) -> dict[str, Any] | None:
    if run_usage is None:
        return None
    return {"input_tokens": run_usage["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": run_usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": run_usage["total_tokens"]}


def error(run: dict[str, Any]) -> dict[str, str] | None:
    if run["status"] == "expired":
        return dict(EXPIRED)
    if run["status"] != "failed":
        return None
    last = run.get("last_error") or {}
    code = last.get("code")
    return {"code": code if code in ERROR_CODES else "server_error",
            "message": last.get("message") or "The response failed."}


def incomplete_details(run: dict[str, Any]) -> dict[str, str] | None:
    # The run stops short for its completion budget or its context; the Responses API has one
    # reason for both.
    return {"reason": "max_output_tokens"} if run["status"] == "incomplete" else None


def response_object(response: dict[str, Any], run: dict[str, Any],
                    output: list[dict[str, Any]]) -> dict[str, Any]:
    """`response`: the `responses` row (`request` holds the create body's other fields);
    `run`: the run row or a run object (status, model, usage, last_error, completed_at,
    instructions, temperature, top_p)."""
    request = response["request"] or {}
    echoed = {key: request.get(key, default) for key, default in ECHOED.items()}
    # A prompt bridge's assistant gives what the request left out; the run holds it.
    if echoed["instructions"] is None and run.get("instructions"):
        echoed["instructions"] = run["instructions"]
    for key in ("temperature", "top_p"):
        if echoed[key] is None:
            echoed[key] = run.get(key)
    ended = run["status"] in TERMINAL
    conversation = response.get("conversation_id")
    return {
        "id": response["id"], "object": "response", "created_at": response["created_at"],
        "status": status(run["status"]),
        "completed_at": run.get("completed_at") if run["status"] == "completed" else None,
        "error": error(run), "incomplete_details": incomplete_details(run),
        "model": run["model"], "output": output, **echoed,
        "previous_response_id": response.get("previous_response_id"),
        "conversation": {"id": conversation} if conversation else None,
        "background": response["background"], "store": response["store"],
        "usage": usage(run.get("usage")) if ended else None,
    }
