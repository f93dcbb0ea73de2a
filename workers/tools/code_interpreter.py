"""code_interpreter: the model's code run in the thread's sandbox session by the sandbox pool.

Images the code writes become `image` outputs (and image_file content of the answer);
other files it writes can be linked as sandbox:/mnt/data/NAME, which becomes a file_path
annotation.
"""
import json
import re
from typing import TYPE_CHECKING, Any

from shared.errors import TreadleError
from shared.platform import rpc, tasks

if TYPE_CHECKING:
    from workers.tools import Context, Result
    from workers.tools.resources import Resources

NAME = "code_interpreter"
# Above the sandbox's own wall-time limit, so a slow cell ends there, not here.
CALL_TIMEOUT_SECONDS = 180.0


def definition(tool: dict[str, Any], resources: "Resources") -> dict[str, Any]:
    files = ", ".join(f"/mnt/data/{name}" for name in resources.code_files.values())
    description = (
        "Run Python 3 code in a stateful sandbox, like a notebook cell: variables persist "
        "between calls; numpy, pandas and matplotlib are installed; there is no internet. "
        "Print what you need to see. Save files to /mnt/data to give them to the user; "
        "link a saved file as sandbox:/mnt/data/NAME.")
    if files:
        description += f" Files available: {files}."
    return {
        "name": NAME,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code."}},
            "required": ["code"],
        },
    }


_CODE_START = re.compile(r'\s*\{\s*"code"\s*:\s*"')
# The longest run of whole characters of a JSON string: no quote, complete escapes.
_WHOLE = re.compile(r'(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\[^u])*')


def partial_input(arguments: str) -> str:
    """The code so far of unfinished arguments `{"code": "...`: the JSON string decoded up
    to its last complete character ("" when the arguments start otherwise). Called on every
    streamed fragment, so the scan is one regular expression, not a Python loop."""
    start = _CODE_START.match(arguments)
    if start is None:
        return ""
    whole = _WHOLE.match(arguments, start.end())
    assert whole is not None
    body = whole.group()
    try:
        code: str = json.loads(f'"{body}"', strict=False)
    except ValueError:  # a malformed escape: the call itself will say so when it runs
        return ""
    # Half of a surrogate pair waits for its other half.
    return code[:-1] if code and "\ud800" <= code[-1] <= "\udbff" else code


def opening(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": NAME, "code_interpreter": {"input": "", "outputs": []}}


def execute(call_id: str, arguments: dict[str, Any], context: "Context") -> "Result":
    from workers.tools import Result

    code = arguments.get("code")
    entry = opening(call_id)
    if not isinstance(code, str) or not code.strip():
        return Result(entry, "Invalid arguments: 'code' must be a non-empty string.")
    entry["code_interpreter"]["input"] = code
    run = context.run
    try:
        answer = rpc.call(tasks.RUN_CODE, {
            "thread_id": run["thread_id"], "project_id": run["project_id"], "code": code,
            "file_ids": list(context.resources.code_files),
        }, timeout=CALL_TIMEOUT_SECONDS)
    except TreadleError as error:
        return Result(entry, f"The code could not be run: {error}")
    outputs = entry["code_interpreter"]["outputs"]
    if answer["logs"]:
        outputs.append({"type": "logs", "logs": answer["logs"]})
    images = [f["file_id"] for f in answer["files"] if f["is_image"]]
    outputs.extend({"type": "image", "image": {"file_id": i}} for i in images)
    # Drawn figures have no path; saved files can be linked by theirs.
    saved = [f for f in answer["files"] if f["path"]]
    entry["_files"] = {f["path"].removeprefix("/mnt/data/"): f["file_id"] for f in saved}
    lines = [answer["logs"] or "(no output)"]
    drawn = len(answer["files"]) - len(saved)
    if drawn:
        lines.append(f"[{drawn} figure(s) drawn: shown to the user as images]")
    lines.extend(f"[wrote {f['path']}: link it as sandbox:{f['path']}]" for f in saved)
    return Result(entry, "\n".join(lines), images)
