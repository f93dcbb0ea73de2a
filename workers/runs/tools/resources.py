"""What a run's built-in tools may reach: the assistant's, the thread's and the run's own
tool_resources, and files attached to the thread's messages for a tool."""
from dataclasses import dataclass, field
from typing import Any

from shared.files import repository as files
from shared.messages import repository as messages
from shared.storage.db import Conn
from shared.threads import repository as threads


@dataclass
class Resources:
    vector_store_ids: list[str] = field(default_factory=list)
    # file id -> filename, for the files placed under /mnt/data.
    code_files: dict[str, str] = field(default_factory=dict)


def _merge(target: list[str], ids: list[str]) -> None:
    target.extend(i for i in ids if i not in target)


def load(conn: Conn, run: dict[str, Any]) -> Resources:
    rows = threads.tool_resources_with_assistant(conn, run["thread_id"], run["assistant_id"])
    layers = [run.get("tool_resources") or {}]
    if rows is not None:
        layers += [rows["thread"] or {}, rows["assistant"] or {}]
    return _gathered(conn, layers, messages.code_interpreter_attachments(conn, run["thread_id"]))


def of_new_response(conn: Conn, tool_resources: dict[str, Any]) -> Resources:
    """What a response not created yet would reach: its thread would be new and it has no
    assistant, so its own tool_resources are all of it."""
    return _gathered(conn, [tool_resources], [])


def _gathered(conn: Conn, layers: list[dict[str, Any]], attached: list[str]) -> Resources:
    resources = Resources()
    code_ids: list[str] = []
    for layer in layers:
        _merge(resources.vector_store_ids,
               (layer.get("file_search") or {}).get("vector_store_ids", []))
        _merge(code_ids, (layer.get("code_interpreter") or {}).get("file_ids", []))
    _merge(code_ids, attached)
    if code_ids:
        found = files.filenames(conn, code_ids)
        resources.code_files = {i: found[i] for i in code_ids if i in found}
    return resources
