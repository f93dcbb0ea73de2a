"""Folding recorded Chat Completions streams: the result, and the deltas pending to flush."""
import json
from typing import Any

from workers.runs.stream_fold import Began, Pending, StreamFold, ToolCall, Usage
from workers.tokens import count

# The envelope every chunk of each server carries; only choices and usage vary.
OPENAI = {"id": "chatcmpl-BXz1", "object": "chat.completion.chunk", "created": 1764561600,
          "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
          "system_fingerprint": "fp_b8bc95a0ac"}
VLLM = {"id": "chatcmpl-9f2c41d7", "object": "chat.completion.chunk", "created": 1764561601,
        "model": "Qwen/Qwen2.5-7B-Instruct"}


def fold_all(chunks: list[dict[str, Any]]) -> tuple[StreamFold, list[list[Began]]]:
    """Feed a whole stream without flushing; what each chunk began."""
    fold = StreamFold()
    return fold, [fold.add(chunk) for chunk in chunks]


def flush_each(chunks: list[dict[str, Any]]) -> tuple[StreamFold, list[Pending]]:
    """Feed a stream flushing after every chunk, as the loop does when chunks come slowly."""
    fold = StreamFold()
    flushes = []
    for chunk in chunks:
        fold.add(chunk)
        flushes.append(fold.take_pending())
    return fold, flushes


def text_chunk(head: dict[str, Any], content: str) -> dict[str, Any]:
    return {**head, "choices": [{"index": 0, "delta": {"content": content},
                                 "logprobs": None, "finish_reason": None}]}


# OpenAI with include_usage: a role chunk, the text, finish_reason, then usage alone.
PLAIN_TEXT = [
    {**OPENAI, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "",
                                                  "refusal": None},
                            "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": "The"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": " capital"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": " of"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": " France"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": " is"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": " Paris"}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"content": "."}, "logprobs": None,
                            "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                            "finish_reason": "stop"}], "usage": None},
    {**OPENAI, "choices": [], "usage": {
        "prompt_tokens": 25, "completion_tokens": 7, "total_tokens": 32,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0}}},
]


def test_plain_text_split_across_many_chunks() -> None:
    fold, began = fold_all(PLAIN_TEXT)

    assert fold.text == "The capital of France is Paris."
    assert fold.finish_reason == "stop"
    assert fold.usage == Usage(25, 7)
    assert fold.calls == {}
    # The role chunk's empty content opens nothing; the first word opens the message.
    assert began == [[], [Began.TEXT], [], [], [], [], [], [], [], []]
    assert fold.take_pending() == Pending(text="The capital of France is Paris.")


def test_text_flushed_chunk_by_chunk_adds_up() -> None:
    fold, flushes = flush_each(PLAIN_TEXT)

    assert [p.text for p in flushes] == [
        "", "The", " capital", " of", " France", " is", " Paris", ".", "", ""]
    assert all(p.calls == {} for p in flushes)
    assert not fold.has_pending


def test_take_pending_clears_what_it_returns() -> None:
    fold = StreamFold()
    fold.add(PLAIN_TEXT[1])
    fold.add(PLAIN_TEXT[2])
    assert fold.has_pending
    assert fold.take_pending() == Pending(text="The capital")
    assert not fold.has_pending
    assert fold.take_pending() == Pending()
    fold.add(PLAIN_TEXT[3])
    assert fold.take_pending() == Pending(text=" of")
    assert fold.text == "The capital of"


# Multi-byte characters, emoji and a ZWJ family cut between chunks, as a tokenizer emits them.
SPLIT_CHARACTERS = [
    text_chunk(VLLM, "Zo"),
    text_chunk(VLLM, "ë a"),
    text_chunk(VLLM, "ime "),
    text_chunk(VLLM, "東"),
    text_chunk(VLLM, "京 😀"),
    text_chunk(VLLM, " 👩\u200d"),
    text_chunk(VLLM, "👩\u200d👧"),
    text_chunk(VLLM, " cafe"),
    text_chunk(VLLM, "\u0301!"),
]
SPLIT_TEXT = "Zoë aime 東京 😀 👩\u200d👩\u200d👧 cafe\u0301!"


def test_characters_split_across_chunks_concatenate_exactly() -> None:
    fold, flushes = flush_each(SPLIT_CHARACTERS)

    assert fold.text == SPLIT_TEXT
    assert "".join(p.text for p in flushes) == SPLIT_TEXT
    assert fold.text.encode() == SPLIT_TEXT.encode()


def test_escaped_characters_arrive_decoded() -> None:
    # vLLM's data lines escape non-ASCII; json.loads in workers.model decodes each whole
    # line, so an emoji's surrogate pair is one character by the time it is folded.
    recorded = [
        '{"id":"chatcmpl-9f2c41d7","object":"chat.completion.chunk","choices":'
        '[{"index":0,"delta":{"content":"Caf\\u00e9 "},"finish_reason":null}]}',
        '{"id":"chatcmpl-9f2c41d7","object":"chat.completion.chunk","choices":'
        '[{"index":0,"delta":{"content":"\\ud83d\\ude00"},"finish_reason":null}]}',
        '{"id":"chatcmpl-9f2c41d7","object":"chat.completion.chunk","choices":'
        '[{"index":0,"delta":{"content":"\\u6771\\u4eac"},"finish_reason":"stop"}]}',
    ]
    fold, _ = fold_all([json.loads(line) for line in recorded])

    assert fold.text == "Café 😀東京"
    assert len(fold.text) == 8
    assert fold.finish_reason == "stop"


# Two parallel calls whose fragments interleave by index, then usage alone.
PARALLEL_CALLS = [
    {**OPENAI, "choices": [{"index": 0, "delta": {
        "role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_paris", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 1, "id": "call_oslo", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '{"city": '}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 1, "function": {"arguments": '{"city": '}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 1, "function": {"arguments": '"Oslo"}'}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": '"Paris"}'}}]},
        "logprobs": None, "finish_reason": None}], "usage": None},
    {**OPENAI, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                            "finish_reason": "tool_calls"}], "usage": None},
    {**OPENAI, "choices": [], "usage": {"prompt_tokens": 80, "completion_tokens": 46,
                                        "total_tokens": 126}},
]


def test_parallel_calls_fold_by_index() -> None:
    fold, began = fold_all(PARALLEL_CALLS)

    assert fold.calls == {
        0: ToolCall("call_paris", "get_weather", '{"city": "Paris"}'),
        1: ToolCall("call_oslo", "get_weather", '{"city": "Oslo"}'),
    }
    assert fold.text == ""
    assert fold.finish_reason == "tool_calls"
    assert fold.usage == Usage(80, 46)
    assert began == [[Began.TOOL_CALLS], [], [], [], [], [], [], []]


def test_parallel_calls_flushed_per_chunk_announce_then_carry_fragments() -> None:
    _, flushes = flush_each(PARALLEL_CALLS)

    assert [p.calls for p in flushes] == [
        {0: {"index": 0, "id": "call_paris", "type": "function",
             "function": {"name": "get_weather", "arguments": "", "output": None}}},
        {1: {"index": 1, "id": "call_oslo", "type": "function",
             "function": {"name": "get_weather", "arguments": "", "output": None}}},
        {0: {"index": 0, "type": "function", "function": {"arguments": '{"city": '}}},
        {1: {"index": 1, "type": "function", "function": {"arguments": '{"city": '}}},
        {1: {"index": 1, "type": "function", "function": {"arguments": '"Oslo"}'}}},
        {0: {"index": 0, "type": "function", "function": {"arguments": '"Paris"}'}}},
        {},
        {},
    ]
    assert all(p.text == "" for p in flushes)


def test_parallel_calls_in_one_flush_carry_whole_arguments() -> None:
    fold, _ = fold_all(PARALLEL_CALLS)

    # Fragments land in the announcement not yet sent, so each call is one entry.
    assert fold.take_pending().calls == {
        0: {"index": 0, "id": "call_paris", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}',
                         "output": None}},
        1: {"index": 1, "id": "call_oslo", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}',
                         "output": None}},
    }


# A server whose tool parser sends the index and arguments before the id and name.
LATE_NAME = [
    {**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "type": "function", "function": {"arguments": '{"query"'}}]},
        "logprobs": None, "finish_reason": None}]},
    {**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "chatcmpl-tool-7a1e", "function": {"name": "search_docs"}}]},
        "logprobs": None, "finish_reason": None}]},
    {**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": ': "refunds"}'}}]},
        "logprobs": None, "finish_reason": None}]},
    {**VLLM, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                          "finish_reason": "tool_calls"}]},
]


def test_call_is_announced_once_its_name_arrives() -> None:
    fold = StreamFold()

    # The step opens with the first fragment, though nothing can be shown of it yet.
    assert fold.add(LATE_NAME[0]) == [Began.TOOL_CALLS]
    assert not fold.has_pending
    assert fold.add(LATE_NAME[1]) == []
    assert fold.take_pending().calls == {
        0: {"index": 0, "id": "chatcmpl-tool-7a1e", "type": "function",
            "function": {"name": "search_docs", "arguments": '{"query"', "output": None}}}
    fold.add(LATE_NAME[2])
    assert fold.take_pending().calls == {
        0: {"index": 0, "type": "function", "function": {"arguments": ': "refunds"}'}}}
    fold.add(LATE_NAME[3])
    assert fold.calls == {0: ToolCall("chatcmpl-tool-7a1e", "search_docs",
                                      '{"query": "refunds"}')}
    assert fold.finish_reason == "tool_calls"


def test_a_name_before_its_id_is_announced_without_the_id() -> None:
    # Today's behaviour, kept as is: the announcement goes out with the name, and an id
    # arriving later is kept for the call (required_action) but not sent as a delta.
    fold = StreamFold()
    fold.add({**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"name": "lookup", "arguments": ""}}]}}]})
    fold.add({**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_x"}]}}]})

    assert fold.take_pending().calls == {
        0: {"index": 0, "id": "", "type": "function",
            "function": {"name": "lookup", "arguments": "", "output": None}}}
    assert fold.calls[0] == ToolCall("call_x", "lookup", "")


def test_text_then_call_in_one_chunk_begins_both_in_order() -> None:
    fold = StreamFold()
    began = fold.add({**VLLM, "choices": [{"index": 0, "delta": {
        "content": "Checking.", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]})

    assert began == [Began.TEXT, Began.TOOL_CALLS]
    assert fold.take_pending() == Pending(text="Checking.", calls={
        0: {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": "{}", "output": None}}})
    # Later text and calls open nothing more.
    assert fold.add(text_chunk(VLLM, " More.")) == []
    assert fold.add({**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 1, "id": "call_2", "type": "function",
         "function": {"name": "lookup", "arguments": "{}"}}]}}]}) == []


def test_usage_only_final_chunk() -> None:
    fold = StreamFold()
    fold.add(text_chunk(OPENAI, "Hi"))
    fold.take_pending()

    assert fold.add(PLAIN_TEXT[-1]) == []
    assert fold.usage == Usage(25, 7)
    assert not fold.has_pending
    assert fold.final_usage(prompt_tokens=999) == Usage(25, 7)


def test_usage_on_every_chunk_keeps_the_last() -> None:
    # vLLM with continuous_usage_stats reports running totals on each chunk.
    fold, _ = fold_all([
        {**text_chunk(VLLM, "One"), "usage": {"prompt_tokens": 10, "completion_tokens": 1,
                                              "total_tokens": 11}},
        {**text_chunk(VLLM, " two"), "usage": {"prompt_tokens": 10, "completion_tokens": 2,
                                               "total_tokens": 12}},
    ])

    assert fold.usage == Usage(10, 2)


def test_stream_without_usage_is_counted() -> None:
    fold, _ = fold_all([
        text_chunk(VLLM, "Let me look"),
        text_chunk(VLLM, " that up."),
        *PARALLEL_CALLS[:6],
        {**VLLM, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ])

    assert fold.usage is None
    usage = fold.final_usage(prompt_tokens=41)
    assert usage == Usage(41, count("Let me look that up.") + count('{"city": "Paris"}')
                          + count('{"city": "Oslo"}'))
    assert usage == Usage(41, 6 + 6 + 7)


def test_stream_that_ends_early() -> None:
    # The connection closed after two chunks: no finish_reason, no usage.
    fold, _ = fold_all([text_chunk(VLLM, "Half an"), text_chunk(VLLM, " answ")])

    assert fold.finish_reason is None
    assert fold.usage is None
    assert fold.text == "Half an answ"
    assert fold.take_pending() == Pending(text="Half an answ")
    assert fold.final_usage(prompt_tokens=3) == Usage(3, count("Half an answ"))


def test_finish_reason_length() -> None:
    fold, _ = fold_all([
        text_chunk(OPENAI, "Once upon"),
        text_chunk(OPENAI, " a time,"),
        {**OPENAI, "choices": [{"index": 0, "delta": {"content": " there"}, "logprobs": None,
                                "finish_reason": "length"}], "usage": None},
        {**OPENAI, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5,
                                            "total_tokens": 17}},
    ])

    assert fold.finish_reason == "length"
    assert fold.text == "Once upon a time, there"
    assert fold.usage == Usage(12, 5)


def call_chunk(arguments: str, call_id: str = "", name: str = "") -> dict[str, Any]:
    """A fragment of call 0; the first carries its id and name, as OpenAI sends them."""
    call: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
    if name:
        call = {"index": 0, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": arguments}}
    return {**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [call]},
                                   "logprobs": None, "finish_reason": None}], "usage": None}


# The code's JSON string cut mid-key and mid-escape (`\` then `n`).
CODE_CALL = [
    call_chunk("", "call_code", "code_interpreter"),
    call_chunk('{"'),
    call_chunk("code"),
    call_chunk('": "'),
    call_chunk("x = 1"),
    call_chunk("\\"),
    call_chunk("n"),
    call_chunk("print(x)"),
    call_chunk('"}'),
]


def test_code_interpreter_input_is_shown_as_it_is_written() -> None:
    fold, flushes = flush_each(CODE_CALL)

    assert [p.calls for p in flushes] == [
        {0: {"index": 0, "id": "call_code", "type": "code_interpreter",
             "code_interpreter": {"input": "", "outputs": []}}},
        {}, {}, {},
        {0: {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": "x = 1"}}},
        # Half an escape shows nothing until the character is whole.
        {},
        {0: {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": "\n"}}},
        {0: {"index": 0, "type": "code_interpreter",
             "code_interpreter": {"input": "print(x)"}}},
        {},
    ]
    assert fold.calls == {0: ToolCall("call_code", "code_interpreter",
                                      '{"code": "x = 1\\nprint(x)"}', "x = 1\nprint(x)")}


def test_code_interpreter_input_in_one_flush_fills_the_opening() -> None:
    fold, _ = fold_all(CODE_CALL)

    assert fold.take_pending().calls == {
        0: {"index": 0, "id": "call_code", "type": "code_interpreter",
            "code_interpreter": {"input": "x = 1\nprint(x)", "outputs": []}}}


def test_code_interpreter_whole_arguments_at_once() -> None:
    fold = StreamFold()
    fold.add(call_chunk('{"code": "print(1)"}', "call_code", "code_interpreter"))

    assert fold.take_pending().calls == {
        0: {"index": 0, "id": "call_code", "type": "code_interpreter",
            "code_interpreter": {"input": "print(1)", "outputs": []}}}
    assert fold.calls[0].shown == "print(1)"


def test_file_search_is_announced_without_its_arguments() -> None:
    fold, flushes = flush_each([
        call_chunk("", "call_fs", "file_search"),
        call_chunk('{"queries": '),
        call_chunk('["refund policy"]}'),
    ])

    assert [p.calls for p in flushes] == [
        {0: {"index": 0, "id": "call_fs", "type": "file_search", "file_search": {}}}, {}, {}]
    assert fold.calls[0] == ToolCall("call_fs", "file_search",
                                     '{"queries": ["refund policy"]}')
