"""code_interpreter: the model's code run in the thread's sandbox session by the sandbox pool.

Images the code writes become `image` outputs (and image_file content of the answer);
other files it writes can be linked as sandbox:/mnt/data/NAME, which becomes a file_path
annotation.
"""
from typing import TYPE_CHECKING, Any

import jiter

from shared.errors import TreadleError
from shared.platform import rpc, tasks
from workers.runs.tools.calls import Context, Result

if TYPE_CHECKING:
    from workers.runs.tools.resources import Resources

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


def partial_input(arguments: str) -> str:
    """The code so far of unfinished arguments `{"code": "...`: the JSON string decoded up
    to its last complete character ("" when the arguments start otherwise or are malformed).

    jiter's partial mode parses the incomplete JSON and, with "trailing-strings", keeps the
    unfinished string, without a trailing half escape (`\\u00`) or the first half of an
    escaped surrogate pair; so what is shown only grows, by whole characters. Called on every
    streamed fragment: one parse in Rust, no Python loop over the text."""
    try:
        parsed = jiter.from_json(_utf8(arguments), partial_mode="trailing-strings",
                                 cache_mode="keys")  # the code's prefixes are not worth caching
    except ValueError:  # malformed: the call itself will say so when it runs
        return ""
    if not isinstance(parsed, dict) or next(iter(parsed), None) != "code":
        return ""
    code = parsed["code"]
    return code if isinstance(code, str) else ""


def _utf8(arguments: str) -> bytes:
    try:
        return arguments.encode()
    except UnicodeEncodeError:
        pass
    # A pair escaped in the stream's JSON and split between two chunks arrives as two
    # surrogate code points (join them), or as a high surrogate still waiting for its other
    # half (drop it for now). A lone surrogate anywhere else raises UnicodeEncodeError.
    joined = arguments.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if "\ud800" <= joined[-1] <= "\udbff":
        joined = joined[:-1]
    return joined.encode()


def opening(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": NAME, "code_interpreter": {"input": "", "outputs": []}}


def session_of(run: dict[str, Any]) -> str:
    """The sandbox session the run's code runs in: its thread's, or, for a response that
    names a container (`cntr_` + a response id's suffix), that response's."""
    container = ((run.get("tool_resources") or {}).get("code_interpreter") or {}).get(
        "container_id")
    return run["thread_id"] if container is None else "resp_" + container.removeprefix("cntr_")


def call(call_id: str, arguments: dict[str, Any], context: Context) -> Result:

    code = arguments.get("code")
    entry = opening(call_id)
    if not isinstance(code, str) or not code.strip():
        return Result(entry, "Invalid arguments: 'code' must be a non-empty string.")
    entry["code_interpreter"]["input"] = code
    run = context.run
    try:
        answer = rpc.call(tasks.RUN_CODE, {
            "thread_id": session_of(run), "project_id": run["project_id"], "code": code,
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
