"""The chat prompt of one run: instructions, the thread (truncated), and the run's own steps.
A response's run has no thread to speak of: its history is items (`_response_history`)."""
import base64
import mimetypes
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


def _thread_messages(conn: Conn, run: dict[str, Any]) -> list[dict[str, Any]]:
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


def _response_history(conn: Conn, response: dict[str, Any]) -> list[dict[str, Any]]:
    """The items before the response's run: each previous response's input and output,
    oldest first, or its conversation's items; then its own input."""
    items: list[dict[str, Any]] = []
    if response["previous_response_id"] is not None:
        for earlier in responses.chain(conn, response["previous_response_id"]):
            items.extend(earlier["input"])
            items.extend(earlier["output"] or [])
    elif response["conversation_id"] is not None:
        items.extend(responses.conversation_items(conn, response["conversation_id"]))
    items.extend(response["input"])
    return chat_messages(items, Files(lambda file_id: _image_data_url(file_id, conn),
                                      lambda file_id: _file_text(file_id, conn)))


def build(conn: Conn, run: dict[str, Any], replay: bool = True,
          response: dict[str, Any] | None = None) -> Prompt:
    """The messages of the run's next model call; `replay`: whether the run may have written
    anything to replay (not before a first execution's first model call: a run's messages
    and steps are only ever written by its executions), else it is not read. `response`:
    a response's run's row, read already (else read here)."""
    system = [{"role": "system", "content": run["instructions"]}] if run["instructions"] else []
    if response is None and is_response(run["id"]):
        response = responses.find_any(conn, run["id"])
    if response is not None:
        thread = _response_history(conn, response)
        truncate = response["request"]["truncation"] == "auto"
    else:
        thread = _thread_messages(conn, run)
        truncate = True
    strategy = run["truncation_strategy"] or {"type": "auto"}
    if strategy.get("type") == "last_messages" and strategy.get("last_messages") is not None:
        thread = thread[-strategy["last_messages"]:] if strategy["last_messages"] else []
    own = _run_messages(conn, run) if replay else []
    budget = run["max_prompt_tokens"] or DEFAULT_CONTEXT_TOKENS
    fixed = sum(_tokens(m) for m in system + own)
    sizes = [_tokens(m) for m in thread]
    # Drop from the middle, keeping the thread's first message and its latest ones.
    while truncate and thread and fixed + sum(sizes) > budget and len(thread) > 1:
        drop = 1 if len(thread) > 2 else 0
        del thread[drop]
        del sizes[drop]
    if response is not None:
        thread = paired(thread)
        sizes = [_tokens(m) for m in thread]
    total = fixed + sum(sizes)
    if total > budget:
        raise PromptTooLongError(f"prompt of {total} tokens exceeds {budget}")
    return Prompt(system + thread + own, total)
