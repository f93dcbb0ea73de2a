"""Responses items as Chat Completions messages: the history a response's run sends the
model (its previous responses' or its conversation's items, then its own input).

Pure: what needs storage (an image file as a data URL, a file's text) comes through the
`Files` the caller hands in.
"""
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Chat Completions knows these image details; a Responses `original` asks for the most.
_IMAGE_DETAILS = {"low": "low", "high": "high", "auto": "auto", "original": "high"}
_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class Files:
    """`image_url(file_id)`: the image as a data URL, None when it cannot be shown;
    `text(file_id)`: its name and its text, None when it is no text file."""
    image_url: Callable[[str], str | None]
    text: Callable[[str], tuple[str, str] | None]


def _file_data_text(data: str) -> str | None:
    """The text of inline file data (a data URL or bare base64), None if it is not text."""
    encoded = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _file_part(part: dict[str, Any], files: Files) -> dict[str, Any]:
    if part.get("file_id") is not None:
        found = files.text(part["file_id"])
        name, body = found if found is not None else (part["file_id"], None)
    else:
        name, body = part.get("filename") or "file", _file_data_text(part["file_data"])
    if body is None:
        return {"type": "text", "text": f"[file {name}: not a text file, not shown]"}
    return {"type": "text", "text": f"[file {name}]\n{body}"}


def _image_part(part: dict[str, Any], files: Files) -> dict[str, Any] | None:
    url = part.get("image_url")
    if url is None:
        url = files.image_url(part["file_id"])
    if url is None:
        return None
    detail = _IMAGE_DETAILS.get(str(part.get("detail")), "auto")
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def _part(part: dict[str, Any], files: Files) -> dict[str, Any] | None:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        return _image_part(part, files)
    return _file_part(part, files)


def chat_content(parts: list[dict[str, Any]], files: Files) -> str | list[dict[str, Any]]:
    """Content parts as a chat message's content: a string when all of it is text."""
    chat = [found for found in (_part(part, files) for part in parts) if found is not None]
    if all(part["type"] == "text" for part in chat):
        return "\n".join(part["text"] for part in chat)
    return chat


def _search_output(item: dict[str, Any]) -> str:
    results = item.get("results") or []
    if not results:
        return "No results."
    return "\n\n".join(f"[{r.get('filename') or r.get('file_id') or 'result'}]\n"
                       f"{r.get('text') or ''}" for r in results)


def _interpreter_output(item: dict[str, Any]) -> str:
    lines = []
    for output in item.get("outputs") or []:
        lines.append(output["logs"] if output["type"] == "logs" else "[an image was drawn]")
    return "\n".join(lines) or "(no output)"


class _Chat:
    """The messages made so far; tool calls join the assistant message right before them."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def call(self, call_id: str, name: str, arguments: str) -> None:
        last = self.messages[-1] if self.messages else None
        entry = {"id": call_id, "type": "function",
                 "function": {"name": name, "arguments": arguments}}
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(entry)
        else:
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [entry]})

    def output(self, call_id: str, content: str | list[dict[str, Any]]) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": content})


def chat_messages(items: list[dict[str, Any]], files: Files) -> list[dict[str, Any]]:
    """Stored items (`shared.items.inputs`' shapes, output items alike) in order, as chat
    messages: developer -> system; function_call -> the assistant's tool_calls;
    function_call_output -> a tool message; an echoed file_search_call or
    code_interpreter_call -> the assistant's tool call and its output."""
    chat = _Chat()
    for item in items:
        kind = item["type"]
        if kind == "message":
            chat.messages.append({"role": _ROLES[item["role"]],
                                  "content": chat_content(item["content"], files)})
        elif kind == "function_call":
            chat.call(item["call_id"], item["name"], item["arguments"])
        elif kind == "function_call_output":
            output = item["output"]
            chat.output(item["call_id"], output if isinstance(output, str)
                        else chat_content(output, files))
        elif kind == "file_search_call":
            query = " ".join(item.get("queries") or [])
            chat.call(item["id"], "file_search", json.dumps({"query": query}))
            chat.output(item["id"], _search_output(item))
        elif kind == "code_interpreter_call":
            chat.call(item["id"], "code_interpreter", json.dumps({"code": item.get("code") or ""}))
            chat.output(item["id"], _interpreter_output(item))
    return chat.messages


def paired(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with every tool call answered and every answer called for, as chat
    models require: a call with no output (a function call the client never answered, or
    one whose output truncation dropped) and an output whose call is gone are left out."""
    answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    called: set[str] = set()
    kept: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "tool":
            if message["tool_call_id"] in called:
                kept.append(message)
            continue
        calls = [c for c in message.get("tool_calls") or [] if c["id"] in answered]
        called.update(c["id"] for c in calls)
        if "tool_calls" not in message:
            kept.append(message)
        elif calls:
            kept.append({**message, "tool_calls": calls})
        elif message["content"]:
            kept.append({"role": message["role"], "content": message["content"]})
    return kept
