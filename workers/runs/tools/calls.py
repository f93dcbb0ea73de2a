"""What every built-in tool takes and gives: the run's context in, one call's result out."""
from dataclasses import dataclass, field
from typing import Any

from workers.runs.tools.resources import Resources


@dataclass
class Result:
    """One call that ran: its entry in the step's tool_calls and what the model is told."""
    entry: dict[str, Any]
    output: str
    images: list[str] = field(default_factory=list)


@dataclass
class Context:
    run: dict[str, Any]
    resources: Resources
    # Earlier file_search calls of the run: a new call's citation markers number after them.
    searches_before: int = 0


def run_tool(run: dict[str, Any], name: str) -> dict[str, Any]:
    """The run's declaration of the tool `name` (its options), or a bare one."""
    return next((t for t in run["tools"] if t["type"] == name), {"type": name})
