"""A response's output items, made from the run that executed it: each message the run wrote
becomes a `message` item, each tool call of its tool steps a `function_call`,
`file_search_call` or `code_interpreter_call` item, in the order the steps were created.

Pure, so the terminal transaction (which stores the output) and a live read (which shows it
while the run goes on) give the same items for the same rows. Item ids are derived from the
rows' ids, so reading twice gives the same ids.
"""
from collections.abc import Collection, Iterable
from typing import Any

from shared.items.wire import item_view
from shared.runs.steps import search_query

SANDBOX_DIR = "sandbox:/mnt/data/"
# A message the run withdrew (an interrupted execution's, not written again) is no answer.
_WITHDRAWN_STEP = "failed"

_TOOL_STATUS = {"completed": "completed", "in_progress": "in_progress",
                "failed": "failed", "cancelled": "incomplete", "expired": "incomplete"}
_FUNCTION_STATUS = {"completed": "completed", "in_progress": "in_progress"}
_MESSAGE_STATUS = {"completed": "completed", "in_progress": "in_progress"}


def output_items(steps: Iterable[dict[str, Any]], messages_by_id: dict[str, dict[str, Any]],
                 include: Collection[str]) -> list[dict[str, Any]]:
    """`steps`: the run's step rows in creation order; `messages_by_id`: its message rows;
    `include`: the values of `shared.items.wire.INCLUDABLE` asked for (pass them all to keep
    the whole items, as the stored output does)."""
    steps = list(steps)
    filenames = _search_filenames(steps)
    items: list[dict[str, Any]] = []
    for step in steps:
        details = step["step_details"]
        if details["type"] == "message_creation":
            message = messages_by_id.get(details["message_creation"]["message_id"])
            if message is not None and step["status"] != _WITHDRAWN_STEP:
                items.append(message_item(message, filenames, container_id(step["thread_id"])))
        else:
            items.extend(item_view(_tool_item(call, step), include)
                         for call in details["tool_calls"])
    return items


def container_id(thread_id: str) -> str:
    """The sandbox of a response's thread, named as a container."""
    return "cntr_" + _suffix(thread_id)


def message_item(message: dict[str, Any], filenames: dict[str, str],
                 container: str) -> dict[str, Any]:
    """`filenames`: the names of the files the run's searches found, by file id."""
    content = [output_text(part["text"]["value"], part["text"]["annotations"], filenames,
                           container)
               for part in message["content"] if part["type"] == "text"]
    return {"id": message["id"], "type": "message", "role": "assistant",
            "status": message_status(message["status"]),
            "content": content}


def output_text(text: str, annotations: list[dict[str, Any]], filenames: dict[str, str],
                container: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text,
            "annotations": [annotation(a, filenames, container) for a in annotations]}


def annotation(note: dict[str, Any], filenames: dict[str, str],
               container: str) -> dict[str, Any]:
    """An Assistants annotation of the text (its marker kept in the text) as the Responses
    API shows it: a file citation at the marker's position, a sandbox link as a citation of
    the container's file."""
    if note["type"] == "file_citation":
        file_id = note["file_citation"]["file_id"]
        return {"type": "file_citation", "file_id": file_id,
                "filename": filenames.get(file_id, file_id), "index": note["start_index"]}
    return {"type": "container_file_citation", "container_id": container,
            "file_id": note["file_path"]["file_id"],
            "filename": note["text"].removeprefix(SANDBOX_DIR),
            "start_index": note["start_index"], "end_index": note["end_index"]}


def tool_status(call_type: str, step_status: str) -> str:
    """A call's item status from its step's (`call_type`: the step's call type)."""
    if call_type == "function":
        return _FUNCTION_STATUS.get(step_status, "incomplete")
    return _TOOL_STATUS[step_status]


def message_status(status: str) -> str:
    return _MESSAGE_STATUS.get(status, "incomplete")


def function_call_id(call_id: str) -> str:
    return "fc_" + _suffix(call_id)


def file_search_call_id(call_id: str) -> str:
    return "fs_" + _suffix(call_id)


def code_interpreter_call_id(call_id: str) -> str:
    return "ci_" + _suffix(call_id)


def file_url(file_id: str) -> str:
    """Where an image the code drew is read from (with the caller's key)."""
    return f"/v1/files/{file_id}/content"


def _suffix(value: str) -> str:
    return value.split("_", 1)[1] if "_" in value else value


def _search_filenames(steps: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for step in steps:
        if step["step_details"]["type"] != "tool_calls":
            continue
        for call in step["step_details"]["tool_calls"]:
            if call["type"] == "file_search":
                for result in call["file_search"].get("results", []):
                    names[result["file_id"]] = result["file_name"]
    return names


def _tool_item(call: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    status = tool_status(call["type"], step["status"])
    if call["type"] == "function":
        function = call["function"]
        return {"id": function_call_id(call["id"]), "type": "function_call",
                "status": status,
                "call_id": call["id"], "name": function["name"],
                "arguments": function["arguments"]}
    if call["type"] == "file_search":
        return {"id": file_search_call_id(call["id"]), "type": "file_search_call",
                "status": status, "queries": _queries(call),
                "results": [_search_result(r) for r in call["file_search"].get("results", [])]}
    ran = call["code_interpreter"]
    return {"id": code_interpreter_call_id(call["id"]), "type": "code_interpreter_call",
            "status": status, "code": ran["input"],
            "container_id": container_id(step["thread_id"]),
            "outputs": [_interpreter_output(o) for o in ran["outputs"]]}


def _queries(call: dict[str, Any]) -> list[str]:
    query = search_query(call)
    return [] if query is None else [query]


def _search_result(result: dict[str, Any]) -> dict[str, Any]:
    text = "".join(part["text"] for part in result.get("_content", [])
                   if part.get("type") == "text")
    return {"file_id": result["file_id"], "filename": result["file_name"],
            "score": result["score"], "text": text}


def _interpreter_output(output: dict[str, Any]) -> dict[str, Any]:
    if output["type"] == "logs":
        return {"type": "logs", "logs": output["logs"]}
    return {"type": "image", "url": file_url(output["image"]["file_id"])}
