"""Responses items turned into the chat messages a response's run sends the model."""
import base64
import json
from typing import Any

from shared.items.inputs import parse_items
from workers.runs.item_chat import Files, chat_messages, paired

IMAGES = {"file-img": "data:image/png;base64,AAAA"}
TEXTS = {"file-txt": ("notes.txt", "line one")}
FILES = Files(IMAGES.get, TEXTS.get)


def _chat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return chat_messages(parse_items(items, "input"), FILES)


def test_messages_keep_their_roles_and_developer_is_system() -> None:
    assert _chat([
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                     {"type": "input_text", "text": "b"}]},
        {"role": "assistant", "content": "Hi."},
    ]) == [{"role": "system", "content": "Rules."}, {"role": "user", "content": "a\nb"},
           {"role": "assistant", "content": "Hi."}]


def test_images_by_url_and_by_file_and_files_by_text() -> None:
    data = base64.b64encode(b"inline text").decode()
    chat = _chat([{"role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
        {"type": "input_image", "file_id": "file-img", "detail": "original"},
        {"type": "input_image", "file_id": "file-gone"},
        {"type": "input_file", "file_id": "file-txt"},
        {"type": "input_file", "file_data": f"data:text/plain;base64,{data}",
         "filename": "a.txt"},
        {"type": "input_file", "file_id": "file-bin"},
    ]}])
    assert chat == [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": IMAGES["file-img"], "detail": "high"}},
        {"type": "text", "text": "[file notes.txt]\nline one"},
        {"type": "text", "text": "[file a.txt]\ninline text"},
        {"type": "text", "text": "[file file-bin: not a text file, not shown]"},
    ]}]


def test_function_calls_join_the_assistant_message_and_outputs_follow() -> None:
    chat = _chat([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_2", "name": "w", "arguments": "{\"a\":1}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "rain"}]},
        {"type": "function_call", "call_id": "call_3", "name": "w", "arguments": "{}"},
    ])
    assert chat == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "w", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
    ]
    # The last call was never answered: a chat model must not see it.
    assert paired(chat) == chat[:4]


def test_echoed_builtin_calls_become_a_call_and_its_output() -> None:
    items = parse_items([
        {"type": "file_search_call", "status": "completed", "queries": ["q1", "q2"],
         "results": [{"file_id": "file-a", "filename": "a.md", "text": "alpha", "score": 0.5}]},
        {"type": "code_interpreter_call", "status": "completed", "code": "print(1)",
         "container_id": "cntr_x", "outputs": [{"type": "logs", "logs": "1"},
                                               {"type": "image", "url": "https://i"}]},
        {"type": "file_search_call", "status": "completed", "queries": [], "results": None},
    ], "input")
    chat = chat_messages(items, FILES)
    search, code, empty = (item["id"] for item in items)
    assert chat[0]["tool_calls"][0] == {"id": search, "type": "function", "function": {
        "name": "file_search", "arguments": json.dumps({"query": "q1 q2"})}}
    assert chat[1] == {"role": "tool", "tool_call_id": search, "content": "[a.md]\nalpha"}
    assert chat[2]["tool_calls"][0]["function"] == {
        "name": "code_interpreter", "arguments": json.dumps({"code": "print(1)"})}
    assert chat[3] == {"role": "tool", "tool_call_id": code,
                       "content": "1\n[an image was drawn]"}
    assert chat[5] == {"role": "tool", "tool_call_id": empty, "content": "No results."}
    assert paired(chat) == chat


def test_paired_leaves_out_outputs_whose_call_is_gone() -> None:
    messages = [
        {"role": "tool", "tool_call_id": "call_gone", "content": "x"},
        {"role": "assistant", "content": "Text too.", "tool_calls": [
            {"id": "call_open", "type": "function", "function": {"name": "f",
                                                                 "arguments": "{}"}}]},
        {"role": "user", "content": "next"},
    ]
    assert paired(messages) == [{"role": "assistant", "content": "Text too."},
                                {"role": "user", "content": "next"}]
