"""Tools Treadle itself executes during a run (file_search, code_interpreter).

The model sees each as a function tool; the run step records the call in the spec's own
shape. What the model was sent and answered is kept beside it under private keys (a leading
underscore, never on the wire) so a resumed run replays the conversation exactly.
"""
import json
from typing import Any, Protocol

from shared.runs import repository as runs
from shared.storage.db import Conn
from workers.runs.tools import code_interpreter, file_search
from workers.runs.tools.calls import Context, Result
from workers.runs.tools.resources import Resources


class Tool(Protocol):
    NAME: str

    def definition(self, tool: dict[str, Any], resources: Resources) -> dict[str, Any]: ...

    def opening(self, call_id: str) -> dict[str, Any]: ...

    def call(self, call_id: str, arguments: dict[str, Any], context: Context) -> Result: ...


TOOLS: dict[str, Tool] = {file_search.NAME: file_search, code_interpreter.NAME: code_interpreter}


def chat_tools(run: dict[str, Any], resources: Resources) -> list[dict[str, Any]]:
    """The run's tools as Chat Completions function tools, built-in ones included."""
    chat: list[dict[str, Any]] = []
    for tool in run["tools"]:
        if tool["type"] == "function":
            chat.append({"type": "function", "function": tool["function"]})
        elif tool["type"] in TOOLS:
            chat.append({"type": "function",
                         "function": TOOLS[tool["type"]].definition(tool, resources)})
    return chat


def chat_tool_choice(choice: Any) -> Any:
    """`{"type": "file_search"}` and the like name our function of that name."""
    if isinstance(choice, dict) and choice.get("type") in TOOLS:
        return {"type": "function", "function": {"name": choice["type"]}}
    return choice


def is_builtin(name: str) -> bool:
    return name in TOOLS


def call(name: str, call_id: str, arguments: str, context: Context) -> Result:
    """Run one call; bad arguments from the model go back to it as the output."""
    try:
        parsed = json.loads(arguments or "{}")
        if not isinstance(parsed, dict):
            raise ValueError("arguments must be a JSON object")
    except ValueError as error:
        result = Result(TOOLS[name].opening(call_id), f"Invalid arguments: {error}")
    else:
        result = TOOLS[name].call(call_id, parsed, context)
    result.entry["_arguments"] = arguments
    result.entry["_output"] = result.output
    return result


def not_called(name: str, call_id: str, arguments: str, reason: str) -> Result:
    """A call Treadle does not run: the model is told why, as its output."""
    result = Result(TOOLS[name].opening(call_id), reason)
    result.entry["_arguments"] = arguments
    result.entry["_output"] = reason
    return result


def replay(call: dict[str, Any]) -> tuple[str, str, str]:
    """The chat function name, arguments and output of a recorded call."""
    if call["type"] == "function":
        function = call["function"]
        return function["name"], function["arguments"], function.get("output") or ""
    return call["type"], call.get("_arguments", "{}"), call.get("_output", "")


def searches_in(conn: Conn, run_id: str) -> int:
    return runs.completed_file_searches(conn, run_id)
