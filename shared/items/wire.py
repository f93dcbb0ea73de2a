"""A stored item as the wire shows it: the parts an `include` value names are left out unless
asked for, as OpenAI's item lists, item retrieval and (later) a response's items do."""
from collections.abc import Collection
from typing import Any

# Every value OpenAI's `include` takes on item reads. Treadle stores no web search, computer
# or reasoning items, so those values are accepted and change nothing.
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


def _message_part(part: dict[str, Any], include: Collection[str]) -> dict[str, Any]:
    if part["type"] == "input_image" and "message.input_image.image_url" not in include:
        return {**part, "image_url": None}
    if part["type"] == "output_text":
        if "message.output_text.logprobs" in include:
            return {**part, "logprobs": part.get("logprobs", [])}
        return {key: value for key, value in part.items() if key != "logprobs"}
    return part


def item_view(item: dict[str, Any], include: Collection[str]) -> dict[str, Any]:
    """`item`: `{"id", "type", ...}` as `shared.items.inputs` made it."""
    kind = item["type"]
    if kind == "message":
        return {**item, "content": [_message_part(part, include) for part in item["content"]]}
    if kind == "file_search_call" and "file_search_call.results" not in include:
        return {**item, "results": None}
    if kind == "code_interpreter_call" and "code_interpreter_call.outputs" not in include:
        return {**item, "outputs": None}
    return item
