"""Annotations of an answer's text: citation markers of file_search results and
sandbox:/mnt/data links to files the run's code wrote."""
import re
from typing import Any

from shared.runs import repository as runs
from shared.storage.db import Conn

CITATION = re.compile(r"【(\d+):(\d+)†[^】【]*】")
SANDBOX_LINK = re.compile(r"sandbox:/mnt/data/([^\s)\]\"'>`]+)")


def needed(text: str) -> bool:
    return "【" in text or "sandbox:/mnt/data/" in text


def annotate(conn: Conn, run_id: str, text: str) -> list[dict[str, Any]]:
    if not needed(text):
        return []
    sources: dict[tuple[int, int], str] = {}
    files: dict[str, str] = {}
    for call in runs.tool_calls(conn, run_id):
        if call["type"] == "file_search" and "_search" in call:
            for index, result in enumerate(call["file_search"]["results"]):
                sources[(call["_search"], index)] = result["file_id"]
        elif call["type"] == "code_interpreter":
            files.update(call.get("_files", {}))
    found: list[tuple[int, dict[str, Any]]] = []
    for match in CITATION.finditer(text):
        file_id = sources.get((int(match[1]), int(match[2])))
        if file_id is not None:
            found.append((match.start(), {
                "type": "file_citation", "text": match[0], "start_index": match.start(),
                "end_index": match.end(), "file_citation": {"file_id": file_id}}))
    for match in SANDBOX_LINK.finditer(text):
        name = match[1].rstrip(".,;:")
        if name in files:
            end = match.start() + len("sandbox:/mnt/data/") + len(name)
            found.append((match.start(), {
                "type": "file_path", "text": text[match.start():end],
                "start_index": match.start(), "end_index": end,
                "file_path": {"file_id": files[name]}}))
    return [annotation for _, annotation in sorted(found, key=lambda pair: pair[0])]
