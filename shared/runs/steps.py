"""Run steps on the wire: what a step carries depends on what the run's creator included."""
from typing import Any

from shared.objects import STEP

SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def included(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """file_search results carry their text only when the caller asks for it."""
    if SEARCH_CONTENT not in include or step["type"] != "tool_calls":
        return step
    for call in step["step_details"]["tool_calls"]:
        if call["type"] == "file_search":
            for result in call["file_search"].get("results", []):
                result["content"] = result.get("_content", [])
    return step


def dump_step(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """A step as its events carry it, with what the run's creator asked to include."""
    return STEP.dump(included(step, include))
