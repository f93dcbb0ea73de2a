"""Folding recorded Chat Completions streams: the result, and the deltas pending to flush."""
import json
from typing import Any

import pytest

from workers.runs.stream_fold import Began, CallFilter, Pending, StreamFold, ToolCall, Usage
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

    # Nothing opens before the name: only then is it known whether the run keeps the call.
    assert fold.add(LATE_NAME[0]) == []
    assert not fold.has_pending
    assert fold.add(LATE_NAME[1]) == [Began.TOOL_CALLS]
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
    assert fold.end(prompt_tokens=999) == Usage(25, 7)


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
    usage = fold.end(prompt_tokens=41)
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
    assert fold.end(prompt_tokens=3) == Usage(3, count("Half an answ"))


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


# --------------------------------------------------------------------------- the budget

def words(n: int, start: int = 0) -> list[str]:
    """The test model server's answer, one of its tokens a chunk: "tok0", " tok1", ..."""
    return [("" if i == 0 else " ") + f"tok{i}" for i in range(start, start + n)]


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {**OPENAI, "choices": [], "usage": {
        "prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion}}


def finish_chunk(reason: str) -> dict[str, Any]:
    return {**OPENAI, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                   "finish_reason": reason}], "usage": None}


def test_a_model_ignoring_the_budget_is_cut_at_it() -> None:
    # o200k counts each "tokN" as two tokens ("tok", "N"), the model as one.
    fold = StreamFold(budget=20)
    shown = ""
    stopped_after = None
    for position, piece in enumerate(words(100)):
        fold.add(text_chunk(OPENAI, piece))
        shown += fold.take_pending().text
        if fold.overran:
            stopped_after = position + 1
            break

    # Closed once the model had certainly written more than 20 of its tokens.
    assert stopped_after == 21
    usage = fold.end(prompt_tokens=30)
    assert fold.truncated
    assert fold.finish_reason == "length"
    assert usage == Usage(30, 20)
    # Only the text within 20 tokens was ever shown, and it is what the message keeps.
    assert shown == fold.text == "".join(words(10))
    assert count(fold.text) == 20
    assert not fold.has_pending


def test_the_budget_cuts_inside_a_chunk() -> None:
    fold = StreamFold(budget=7)
    fold.add(text_chunk(OPENAI, "The capital of France is Paris, a city of"))
    fold.add(text_chunk(OPENAI, " two million people."))

    assert fold.take_pending().text == fold.text == "The capital of France is Paris,"
    assert count(fold.text) == 7
    assert not fold.overran, "two pieces: the model may still be within its own 7"
    fold.add(finish_chunk("stop"))
    usage = fold.end(prompt_tokens=12)
    assert fold.truncated and fold.finish_reason == "length"
    assert usage == Usage(12, 7)
    assert fold.text == "The capital of France is Paris,"


def test_a_model_within_its_own_count_keeps_its_whole_answer() -> None:
    # 16 of the model's tokens per chunk, 16 chunks: 256 by its count, 512 by o200k's.
    pieces = words(256)
    fold = StreamFold(budget=256)
    shown = ""
    for start in range(0, 256, 16):
        fold.add(text_chunk(OPENAI, "".join(pieces[start:start + 16])))
        shown += fold.take_pending().text
        assert not fold.overran
    # Past o200k's 256 the text waits for the model's own count.
    assert shown == "".join(words(128))
    fold.add(finish_chunk("length"))
    fold.add(usage_chunk(40, 256))
    assert not fold.overran

    usage = fold.end(prompt_tokens=99)
    assert usage == Usage(40, 256)
    assert not fold.truncated
    assert fold.finish_reason == "length"
    assert fold.text == "".join(pieces)
    assert shown + fold.take_pending().text == fold.text


def test_a_model_whose_own_count_passes_the_budget_is_cut() -> None:
    fold = StreamFold(budget=10)
    fold.add(text_chunk(OPENAI, "".join(words(8))))
    fold.add(text_chunk(OPENAI, "".join(words(8, start=8))))
    fold.add(finish_chunk("stop"))
    fold.add(usage_chunk(5, 16))
    assert fold.overran

    assert fold.end(prompt_tokens=99) == Usage(5, 10)
    assert fold.truncated and fold.finish_reason == "length"
    assert fold.text == "".join(words(5))


def test_a_running_count_over_the_budget_stops_the_stream() -> None:
    # vLLM's continuous usage stats: the model's own count on every chunk.
    fold = StreamFold(budget=3)
    fold.add({**text_chunk(VLLM, "One two three"), "usage": {
        "prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}})
    assert not fold.overran
    fold.add({**text_chunk(VLLM, " four"), "usage": {
        "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}})
    assert fold.overran
    assert fold.end(prompt_tokens=1) == Usage(9, 3)
    assert fold.text == "One two three"


def test_without_the_models_count_treadles_count_decides() -> None:
    fold = StreamFold(budget=4)
    fold.add(text_chunk(VLLM, "one two three four five six"))
    fold.add({**VLLM, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})

    assert fold.end(prompt_tokens=8) == Usage(8, 4)
    assert fold.text == "one two three four"
    assert fold.finish_reason == "length"


def test_within_the_budget_nothing_changes() -> None:
    budgeted = StreamFold(budget=count("The capital of France is Paris."))
    for chunk in PLAIN_TEXT:
        budgeted.add(chunk)

    assert budgeted.take_pending() == Pending(text="The capital of France is Paris.")
    assert not budgeted.overran
    assert budgeted.end(prompt_tokens=1) == Usage(25, 7)
    assert not budgeted.truncated and budgeted.finish_reason == "stop"


def test_text_split_anywhere_is_counted_as_a_whole() -> None:
    text = SPLIT_TEXT + " " + "The capital of France is Paris.\n" * 20 + "東京 tok1 x=1;"
    exact = count(text)
    for step in (5, 6, 7, 13, 50, len(text)):
        pieces = [text[i:i + step] for i in range(0, len(text), step)]
        # Fewer pieces than tokens, as every real stream sends.
        assert len(pieces) < exact
        within, over = StreamFold(budget=exact), StreamFold(budget=exact - 1)
        for piece in pieces:
            within.add(text_chunk(VLLM, piece))
            over.add(text_chunk(VLLM, piece))
        assert within.end(prompt_tokens=0) == Usage(0, exact)
        assert within.text == text and not within.truncated
        over.end(prompt_tokens=0)
        assert over.truncated and text.startswith(over.text) and over.text != text


def test_counting_as_it_streams_does_not_count_the_text_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.tokens

    counted: list[int] = []
    real = workers.tokens.count

    def recording(text: str) -> int:
        counted.append(len(text))
        return real(text)

    monkeypatch.setattr(workers.tokens, "count", recording)
    text = "".join(f"word{i} and more " for i in range(2000))
    fold = StreamFold(budget=1_000_000)
    for start in range(0, len(text), 4):
        fold.add(text_chunk(OPENAI, text[start:start + 4]))

    assert fold.text == text
    assert sum(counted) < 4 * len(text), "each chunk counts only the text after a seam"


def test_call_arguments_spend_the_budget_too() -> None:
    fold = StreamFold(budget=5)
    fold.add(text_chunk(OPENAI, "Let me check."))
    fold.add(call_chunk("", "call_1", "lookup"))
    fold.add(call_chunk('{"word": "'))
    fold.add(call_chunk('antidisestablishmentarianism"}'))
    fold.add(finish_chunk("tool_calls"))

    # No count from the model: Treadle's says the call went past the budget.
    assert fold.end(prompt_tokens=3) == Usage(3, 5)
    assert fold.finish_reason == "length"
    assert fold.text == "Let me check."


# --------------------------------------------------------------------------- call filter

def test_call_filter_of_the_runs_options() -> None:
    def of(tool_choice: Any, parallel: bool = True) -> CallFilter:
        return CallFilter.of({"tool_choice": tool_choice, "parallel_tool_calls": parallel})

    assert of("auto") == of("required") == CallFilter()
    assert of("none") == CallFilter(none=True)
    assert of("auto", parallel=False) == CallFilter(single=True)
    assert of({"type": "function", "function": {"name": "lookup"}}) == CallFilter("lookup")
    assert of({"type": "file_search"}) == CallFilter("file_search")
    assert of({"type": "code_interpreter"}, parallel=False) == CallFilter(
        "code_interpreter", single=True)


def test_parallel_tool_calls_false_keeps_the_first_call() -> None:
    fold = StreamFold(keep=CallFilter(single=True))
    began, flushes = [], []
    for chunk in PARALLEL_CALLS:
        began.append(fold.add(chunk))
        flushes.append(fold.take_pending())

    assert fold.calls == {0: ToolCall("call_paris", "get_weather", '{"city": "Paris"}')}
    assert fold.dropped == [ToolCall("call_oslo", "get_weather", '{"city": "Oslo"}')]
    assert began == [[Began.TOOL_CALLS], [], [], [], [], [], [], []]
    # The dropped call was never announced, nor were its fragments sent.
    assert "call_oslo" not in json.dumps([p.calls for p in flushes])
    assert [p.calls for p in flushes] == [
        {0: {"index": 0, "id": "call_paris", "type": "function",
             "function": {"name": "get_weather", "arguments": "", "output": None}}},
        {},
        {0: {"index": 0, "type": "function", "function": {"arguments": '{"city": '}}},
        {}, {},
        {0: {"index": 0, "type": "function", "function": {"arguments": '"Paris"}'}}},
        {}, {},
    ]


def calls_of(*names: str) -> list[dict[str, Any]]:
    """A stream calling each of `names` in turn, whole arguments in one fragment."""
    return [{**OPENAI, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": i, "id": f"call_{i}", "type": "function",
         "function": {"name": name, "arguments": f'{{"n": {i}}}'}}]},
        "logprobs": None, "finish_reason": None}], "usage": None}
        for i, name in enumerate(names)] + [finish_chunk("tool_calls")]


def test_a_named_tool_choice_keeps_only_calls_of_it() -> None:
    fold = StreamFold(keep=CallFilter("beta"))
    began, flushes = [], []
    for chunk in calls_of("alpha", "beta", "alpha", "beta"):
        began.append(fold.add(chunk))
        flushes.append(fold.take_pending().calls)

    # Kept calls are numbered by their place in the step, as step deltas' index means.
    assert fold.calls == {0: ToolCall("call_1", "beta", '{"n": 1}'),
                          1: ToolCall("call_3", "beta", '{"n": 3}')}
    assert [c.id for c in fold.dropped] == ["call_0", "call_2"]
    assert began == [[], [Began.TOOL_CALLS], [], [], []]
    assert flushes == [
        {},
        {0: {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "beta", "arguments": '{"n": 1}', "output": None}}},
        {},
        {1: {"index": 1, "id": "call_3", "type": "function",
             "function": {"name": "beta", "arguments": '{"n": 3}', "output": None}}},
        {},
    ]


def test_a_named_tool_choice_with_one_call_keeps_its_first() -> None:
    fold = StreamFold(keep=CallFilter("beta", single=True))
    for chunk in calls_of("alpha", "beta", "beta"):
        fold.add(chunk)

    assert fold.calls == {0: ToolCall("call_1", "beta", '{"n": 1}')}
    assert [c.id for c in fold.dropped] == ["call_0", "call_2"]


def test_a_built_in_tool_choice_keeps_only_that_tool() -> None:
    fold = StreamFold(keep=CallFilter("file_search"))
    flushes = []
    for chunk in calls_of("code_interpreter", "file_search"):
        fold.add(chunk)
        flushes.append(fold.take_pending().calls)

    assert fold.calls == {0: ToolCall("call_1", "file_search", '{"n": 1}')}
    assert [c.name for c in fold.dropped] == ["code_interpreter"]
    assert flushes == [
        {}, {0: {"index": 0, "id": "call_1", "type": "file_search", "file_search": {}}}, {}]


def test_when_every_call_is_dropped_no_step_opens() -> None:
    fold = StreamFold(keep=CallFilter("beta"))
    began = [fold.add(chunk) for chunk in calls_of("alpha", "alpha")]

    assert began == [[], [], []]
    assert fold.calls == {}
    assert [c.name for c in fold.dropped] == ["alpha", "alpha"]
    assert not fold.has_pending
    # Its arguments were still written by the model: they count when it sends no usage.
    assert fold.end(prompt_tokens=2) == Usage(2, 2 * count('{"n": 0}'))


def test_tool_choice_none_keeps_no_call_and_all_the_text() -> None:
    fold = StreamFold(keep=CallFilter(none=True))
    chunks = [{**OPENAI, "choices": [{"index": 0, "delta": {"content": "Sunny."},
                                      "logprobs": None, "finish_reason": None}], "usage": None},
              *calls_of("get_weather", "file_search")]
    began = [fold.add(chunk) for chunk in chunks]

    assert began == [[Began.TEXT], [], [], []]
    assert fold.calls == {} and fold.text == "Sunny."
    assert [c.name for c in fold.dropped] == ["get_weather", "file_search"]
    assert fold.take_pending() == Pending(text="Sunny.")


def test_a_call_that_never_gets_a_name_is_dropped() -> None:
    fold, began = fold_all([LATE_NAME[0], LATE_NAME[3]])

    assert began == [[], []]
    assert fold.calls == {}
    fold.end(prompt_tokens=1)
    assert fold.dropped == [ToolCall("", "", '{"query"')]


def test_a_call_the_model_gave_no_id_gets_one_at_the_end() -> None:
    fold = StreamFold()
    fold.add({**VLLM, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"name": "lookup", "arguments": "{}"}},
        {"index": 1, "function": {"name": "lookup", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]})
    fold.end(10)
    ids = [fold.calls[0].id, fold.calls[1].id]
    assert all(i.startswith("call_") for i in ids) and ids[0] != ids[1]
