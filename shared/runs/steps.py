"""Run steps on the wire: what a step carries depends on what the run's creator included."""
import json
from typing import Any

from shared.objects import STEP

SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def search_query(call: dict[str, Any]) -> str | None:
    """The query a file_search call searched for, from the arguments the model gave (kept
    in the row); None when they named none."""
    try:
        arguments = json.loads(call.get("_arguments") or "{}")
    except ValueError:
        return None
    query = arguments.get("query") if isinstance(arguments, dict) else None
    return query if isinstance(query, str) and query else None


def included(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """A file_search call shows the query it searched for (`file_search.query`, a Treadle
    extension: OpenAI's steps have none); its results carry their text only when the
    caller asks for it."""
    if step["type"] != "tool_calls":
        return step
    for call in step["step_details"]["tool_calls"]:
        if call["type"] == "file_search":
            query = search_query(call)
            if query is not None:
                call["file_search"]["query"] = query
            if SEARCH_CONTENT in include:
                for result in call["file_search"].get("results", []):
                    result["content"] = result.get("_content", [])
    return step


def dump_step(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """A step as its events carry it, with what the run's creator asked to include."""
    return STEP.dump(included(step, include))
