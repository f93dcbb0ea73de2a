"""The wire view of stored items: what `include` names appears only when asked for."""
import copy

from shared.items.inputs import parse_items
from shared.items.wire import INCLUDABLE, item_view

ITEMS = parse_items([
    {"role": "user", "content": [{"type": "input_image", "image_url": "https://x/i.png"},
                                 {"type": "input_text", "text": "t"}]},
    {"role": "assistant", "content": [{"type": "output_text", "text": "a", "annotations": [],
                                       "logprobs": [{"token": "a"}]},
                                      {"type": "output_text", "text": "b", "annotations": []}]},
    {"type": "file_search_call", "queries": ["q"], "status": "completed",
     "results": [{"text": "r"}]},
    {"type": "code_interpreter_call", "code": "1", "container_id": "c", "status": "completed",
     "outputs": [{"type": "logs", "logs": "1"}]},
    {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
], "items")


def test_without_include_the_named_parts_are_left_out() -> None:
    stored = copy.deepcopy(ITEMS)
    user, assistant, search, interpreter, call = (item_view(item, ()) for item in ITEMS)
    assert user["content"][0]["image_url"] is None
    assert user["content"][1] == ITEMS[0]["content"][1]
    assert all("logprobs" not in part for part in assistant["content"])
    assert search["results"] is None and interpreter["outputs"] is None
    assert call == ITEMS[4]
    assert stored == ITEMS, "the stored items were changed"


def test_include_brings_each_back() -> None:
    user, assistant, search, interpreter, call = (item_view(item, INCLUDABLE)
                                                  for item in ITEMS)
    assert user == ITEMS[0]
    assert [part["logprobs"] for part in assistant["content"]] == [[{"token": "a"}], []]
    assert search == ITEMS[2] and interpreter == ITEMS[3] and call == ITEMS[4]
