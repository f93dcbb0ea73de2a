"""The chat prompt of one run: instructions, the thread (truncated), and the run's own steps.
A response's run has no thread to speak of: its history is items (`_response_history`).
Then the Chat Completions request that sends it (`chat_request`) and what that request costs
in input tokens (`request_tokens`), which is what a response's input token count reports.
"""
import base64
import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.files import repository as files
from shared.files.blobs import get_blob_store
from shared.messages import repository as messages
from shared.responses import repository as responses
from shared.responses.ending import is_response
from shared.runs import repository as runs
from shared.storage.db import Conn
from workers.runs import tools
from workers.runs.item_chat import Files, chat_messages, paired
from workers.runs.tools import resources as tool_resources
from workers.runs.tools.resources import Resources
from workers.tokens import count

# Chat Completions' per-message framing, and a flat price for an image part.
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 85
DEFAULT_CONTEXT_TOKENS = 128_000
MAX_INLINE_IMAGE_BYTES = 20 * 1024 * 1024
# An input_file's text goes into the prompt whole; bigger files belong in a vector store.
MAX_INLINE_TEXT_BYTES = 2 * 1024 * 1024


class PromptTooLongError(Exception):
    """Even the shortest prompt the run allows exceeds its max_prompt_tokens."""


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, Any]]
    tokens: int


def _image_data_url(file_id: str, conn: Conn) -> str | None:
    row = files.name_and_size(conn, file_id)
    if row is None or row["bytes"] > MAX_INLINE_IMAGE_BYTES:
        return None
    kind = mimetypes.guess_type(row["filename"])[0] or "image/png"
    data = b"".join(get_blob_store().read(file_id))
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def _file_text(file_id: str, conn: Conn) -> tuple[str, str] | None:
    row = files.name_and_size(conn, file_id)
    if row is None or row["bytes"] > MAX_INLINE_TEXT_BYTES:
        return None
    try:
        return row["filename"], b"".join(get_blob_store().read(file_id)).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _chat_content(conn: Conn, parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    chat: list[dict[str, Any]] = []
    for part in parts:
        if part["type"] == "text":
            chat.append({"type": "text", "text": part["text"]["value"]})
        elif part["type"] == "image_url":
            chat.append({"type": "image_url", "image_url": part["image_url"]})
        elif part["type"] == "image_file":
            url = _image_data_url(part["image_file"]["file_id"], conn)
            if url is not None:
                detail = part["image_file"].get("detail", "auto")
                chat.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
    if all(p["type"] == "text" for p in chat):
        return "\n".join(p["text"] for p in chat)
    return chat


def _tokens(message: dict[str, Any]) -> int:
    content = message.get("content")
    total = MESSAGE_OVERHEAD
    if isinstance(content, str):
        total += count(content)
    elif isinstance(content, list):
        for part in content:
            total += count(part["text"]) if part["type"] == "text" else IMAGE_TOKENS
    for call in message.get("tool_calls") or []:
        total += count(call["function"]["name"]) + count(call["function"]["arguments"])
    return total


def _thread_messages(conn: Conn, run: dict[str, Any], rows: list[dict[str, Any]] | None
                     ) -> list[dict[str, Any]]:
    """`rows`: the thread's history read already (`messages.history`), else read here."""
    if rows is None:
        rows = messages.thread_history(conn, run["thread_id"], run["id"])
    return [{"role": r["role"], "content": _chat_content(conn, r["content"])} for r in rows]


def _run_messages(conn: Conn, run: dict[str, Any]) -> list[dict[str, Any]]:
    """What this run already said and did, replayed so a resumed loop continues from it."""
    chat: list[dict[str, Any]] = []
    for step in runs.steps_in_order(conn, run["id"]):
        details = step["step_details"]
        if step["type"] == "message_creation" and step["status"] == "completed":
            content = messages.content_of(conn, details["message_creation"]["message_id"])
            if content is not None:
                chat.append({"role": "assistant", "content": _chat_content(conn, content)})
        elif step["type"] == "tool_calls" and step["status"] == "completed":
            calls = [(c["id"], *tools.replay(c)) for c in details["tool_calls"]]
            chat.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments, _ in calls]})
            chat.extend({"role": "tool", "tool_call_id": call_id, "content": output}
                        for call_id, _, _, output in calls)
    return chat


@dataclass(frozen=True)
class ResponseHistory:
    """What a response's prompt holds before its run's own steps: what it continues (a
    previous response, or a conversation), its input items, and its truncation."""
    previous_response_id: str | None
    conversation_id: str | None
    input: list[dict[str, Any]]
    truncation: str

    @classmethod
    def of(cls, response: dict[str, Any]) -> "ResponseHistory":
        return cls(response["previous_response_id"], response["conversation_id"],
                   response["input"], response["request"]["truncation"])


def _response_history(conn: Conn, history: ResponseHistory) -> list[dict[str, Any]]:
    """The items before the response's run: each previous response's input and output,
    oldest first, or its conversation's items; then its own input."""
    items: list[dict[str, Any]] = []
    if history.previous_response_id is not None:
        for earlier in responses.chain(conn, history.previous_response_id):
            items.extend(earlier["input"])
            items.extend(earlier["output"] or [])
    elif history.conversation_id is not None:
        items.extend(responses.conversation_items(conn, history.conversation_id))
    items.extend(history.input)
    return chat_messages(items, Files(lambda file_id: _image_data_url(file_id, conn),
                                      lambda file_id: _file_text(file_id, conn)))


def _system(instructions: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []


def fitted(system: list[dict[str, Any]], thread: list[dict[str, Any]],
           own: list[dict[str, Any]], budget: int, truncate: bool, pair: bool) -> Prompt:
    """The prompt of the system messages, the thread and the run's own messages, with the
    thread's middle dropped while it exceeds `budget` (when `truncate`); `pair`: a
    response's calls and outputs left unanswered are left out (`item_chat.paired`). Its
    tokens may still exceed the budget: the caller decides."""
    thread = list(thread)
    fixed = sum(_tokens(m) for m in system + own)
    sizes = [_tokens(m) for m in thread]
    # Drop from the middle, keeping the thread's first message and its latest ones.
    while truncate and thread and fixed + sum(sizes) > budget and len(thread) > 1:
        drop = 1 if len(thread) > 2 else 0
        del thread[drop]
        del sizes[drop]
    if pair:
        thread = paired(thread)
        sizes = [_tokens(m) for m in thread]
    return Prompt(system + thread + own, fixed + sum(sizes))


def response_prompt(conn: Conn, instructions: str, history: ResponseHistory,
                    own: list[dict[str, Any]], budget: int) -> Prompt:
    """A response's prompt: its instructions, its history, and what its run did so far."""
    return fitted(_system(instructions), _response_history(conn, history), own, budget,
                  history.truncation == "auto", pair=True)


def build(conn: Conn, run: dict[str, Any], replay: bool = True,
          response: dict[str, Any] | None = None,
          history: list[dict[str, Any]] | None = None) -> Prompt:
    """The messages of the run's next model call; `replay`: whether the run may have written
    anything to replay (not before a first execution's first model call: a run's messages
    and steps are only ever written by its executions), else it is not read. `response`:
    a response's run's row, read already (else read here); `history`: a thread's
    (`messages.history`), read already (else read here)."""
    if response is None and is_response(run["id"]):
        response = responses.find_any(conn, run["id"])
    own = _run_messages(conn, run) if replay else []
    budget = run["max_prompt_tokens"] or DEFAULT_CONTEXT_TOKENS
    if response is not None:
        built = response_prompt(conn, run["instructions"], ResponseHistory.of(response), own,
                                budget)
    else:
        thread = _thread_messages(conn, run, history)
        strategy = run["truncation_strategy"] or {"type": "auto"}
        if strategy.get("type") == "last_messages" and strategy.get("last_messages") is not None:
            thread = thread[-strategy["last_messages"]:] if strategy["last_messages"] else []
        built = fitted(_system(run["instructions"]), thread, own, budget, True, pair=False)
    if built.tokens > budget:
        raise PromptTooLongError(f"prompt of {built.tokens} tokens exceeds {budget}")
    return built


def chat_request(run: dict[str, Any], built: Prompt, resources: Callable[[], Resources],
                 builtin_calls_left: int | None, completion_budget: int | None,
                 user: str | None = None) -> dict[str, Any]:
    """The Chat Completions request of the run's next model call. `resources`: what the
    built-in tools may reach, asked only when the run has one; `builtin_calls_left`: the
    built-in calls a response's max_tool_calls still allows (None: no bound);
    `completion_budget`: the completion tokens the call may spend (None: no bound); `user`:
    a response's end user, passed on to the model."""
    request: dict[str, Any] = {"model": run["model"], "messages": built.messages}
    builtin = any(tools.is_builtin(t["type"]) for t in run["tools"])
    choice = run["tool_choice"]
    if builtin and builtin_calls_left == 0:
        # max_tool_calls reached: the model is offered only the client's functions.
        run = {**run, "tools": [t for t in run["tools"] if not tools.is_builtin(t["type"])]}
        builtin = False
        if isinstance(choice, dict) and tools.is_builtin(choice["type"]):
            choice = "auto"
    offered = tools.chat_tools(run, resources() if builtin else Resources())
    if offered:
        request["tools"] = offered
        request["parallel_tool_calls"] = run["parallel_tool_calls"]
        request["tool_choice"] = tools.chat_tool_choice(choice)
    for name in ("temperature", "top_p"):
        if run[name] is not None:
            request[name] = run[name]
    if run["reasoning_effort"] is not None:
        request["reasoning_effort"] = run["reasoning_effort"]
    if isinstance(run["response_format"], dict):
        request["response_format"] = run["response_format"]
    if user is not None:
        request["user"] = user
    if completion_budget is not None:
        request["max_completion_tokens"] = completion_budget
    return request


def _json_tokens(value: Any) -> int:
    # Keys sorted: a run's tools read back from Postgres (jsonb) come in another key order
    # than the body gave them, and the count must not depend on it.
    return count(json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True))


def request_tokens(built: Prompt, request: dict[str, Any]) -> int:
    """The input tokens of the chat request that sends `built`: the prompt's, and those of
    the tool definitions and response format it sends, counted as their JSON (a model
    renders them its own way before reading them; their JSON is one measure for all)."""
    total = built.tokens
    if request.get("tools"):
        total += _json_tokens(request["tools"])
    if "response_format" in request:
        total += _json_tokens(request["response_format"])
    return total


def input_tokens(conn: Conn, run: dict[str, Any], history: ResponseHistory) -> int:
    """The input tokens of the first model call of a response not created yet: `run` is the
    run a create would write for it (`shared.responses.requests`), `history` its history."""
    # A response's run has no max_prompt_tokens: the model's context is its budget.
    built = response_prompt(conn, run["instructions"], history, [], DEFAULT_CONTEXT_TOKENS)
    request = chat_request(run, built,
                           lambda: tool_resources.of_new_response(conn, run["tool_resources"]),
                           None, None)
    return request_tokens(built, request)
