"""The scripted model server (`tests.support.model_server`) driven by the real openai client."""
import asyncio
import base64
import http.client
import json
import math
import os
import resource
import struct
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.support.model_server import ModelServer, embed


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as running:
        yield running


@pytest.fixture
def client(server: ModelServer) -> OpenAI:
    return OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=20)


def scripted(script: dict[str, Any], prefix: str = "Please answer.") -> Any:
    return [{"role": "user", "content": f"{prefix}\nSCRIPT: {json.dumps(script)}"}]


def collect(stream: Any) -> tuple[list[Any], str, dict[int, dict[str, Any]], str | None, Any]:
    """(chunks, text, tool calls by index, finish_reason, usage) of a streamed completion."""
    chunks = list(stream)
    text = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    usage = None
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.id == chunks[0].id
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            text += delta.content or ""
            for tc in delta.tool_calls or []:
                if tc.index not in calls:
                    assert tc.id and tc.type == "function" and tc.function and tc.function.name
                    calls[tc.index] = {"id": tc.id, "name": tc.function.name, "arguments": ""}
                else:
                    assert tc.id is None
                calls[tc.index]["arguments"] += tc.function.arguments or ""
            if choice.finish_reason is not None:
                finish = choice.finish_reason
    return chunks, text, calls, finish, usage


def test_plain_text_without_script(client: OpenAI, server: ModelServer) -> None:
    reply = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "hello there"}])
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.content == "You said: hello there"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 2 + 4
    assert reply.usage.completion_tokens == 4  # "You " "said: " "hello " "there"
    assert reply.usage.total_tokens == 10
    [record] = server.requests()
    assert record["path"] == "/v1/chat/completions"
    assert record["body"]["messages"] == [{"role": "user", "content": "hello there"}]
    assert record["stream"] is False
    assert record["completed"] is True
    assert record["disconnected"] is False
    assert record["status"] == 200
    assert record["headers"]["authorization"] == "Bearer sk-test"


def test_content_parts_are_joined(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="test-model", messages=[{
        "role": "user", "content": [{"type": "text", "text": "one "},
                                    {"type": "text", "text": "two"}]}])
    assert reply.choices[0].message.content == "You said: one two"


def test_script_text_non_stream(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="test-model", messages=scripted({"text": "The answer is 42."}))
    assert reply.choices[0].message.content == "The answer is 42."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None


def test_script_text_stream(client: OpenAI) -> None:
    text = "Streaming  works,\nline two. "
    stream = client.chat.completions.create(
        model="test-model", messages=scripted({"text": text}), stream=True,
        stream_options={"include_usage": True})
    chunks, assembled, calls, finish, usage = collect(stream)
    assert assembled == text
    assert calls == {}
    assert finish == "stop"
    assert chunks[0].choices[0].delta.role == "assistant"
    # role chunk, one chunk per token, finish chunk, usage chunk
    assert len(chunks) == 1 + 4 + 1 + 1
    assert chunks[-1].choices == []
    assert usage is not None and usage.completion_tokens == 4
    assert usage.total_tokens == usage.prompt_tokens + 4
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test-model", messages=scripted({"tokens": 5, "chunk_tokens": 2}), stream=True)
    chunks, text, _, finish, usage = collect(stream)
    assert text == "tok0 tok1 tok2 tok3 tok4"
    assert usage is None
    assert finish == "stop"
    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["tok0 tok1 ", "tok2 tok3 ",
                                                                 "tok4"]
    assert all(chunk.choices for chunk in chunks)


TOOL_SCRIPT = {"tool_calls": [
    {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
    {"name": "get_weather", "arguments": {"city": "Tokyo", "days": [1, 2, 3]}},
    {"name": "now", "arguments": {}},
]}
TOOLS: Any = [{"type": "function", "function": {
    "name": name, "parameters": {"type": "object", "properties": {}}}}
    for name in ("get_weather", "now")]


def test_parallel_tool_calls_stream(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test-model", messages=scripted(TOOL_SCRIPT), stream=True,
        stream_options={"include_usage": True}, tools=TOOLS, tool_choice="auto",
        parallel_tool_calls=True)
    chunks, text, calls, finish, usage = collect(stream)
    assert text == ""
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content is None
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1, 2]
    assert [calls[i]["name"] for i in range(3)] == ["get_weather", "get_weather", "now"]
    assert [json.loads(calls[i]["arguments"]) for i in range(3)] == [
        call["arguments"] for call in TOOL_SCRIPT["tool_calls"]]
    ids = [calls[i]["id"] for i in range(3)]
    assert len(set(ids)) == 3
    assert all(i.startswith("call_") and len(i) == 29 and i[5:].isalnum() for i in ids)
    # arguments arrive in several fragments
    fragments = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or []
                 if tc.index == 0 and tc.id is None]
    assert len(fragments) > 1
    assert usage is not None
    assert usage.completion_tokens == 4 + 6 + 1


def test_parallel_tool_calls_non_stream(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="test-model", messages=scripted(TOOL_SCRIPT), tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 3
    assert len({c.id for c in calls}) == 3
    assert [json.loads(c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        call["arguments"] for call in TOOL_SCRIPT["tool_calls"]]
    assert all(c.type == "function" for c in calls)


def test_text_then_tool_call_stream(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test-model", stream=True, messages=scripted(
            {"text": "Let me check.", "tool_calls": [{"name": "now", "arguments": {}}]}))
    _, text, calls, finish, _ = collect(stream)
    assert text == "Let me check."
    assert calls[0]["name"] == "now"
    assert finish == "tool_calls"


def test_tool_results_finish_the_loop(client: OpenAI) -> None:
    messages: list[Any] = scripted(TOOL_SCRIPT)
    first = client.chat.completions.create(model="test-model", messages=messages, tools=TOOLS)
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": f"result {i}"}
                 for i, c in enumerate(calls)]
    second = client.chat.completions.create(model="test-model", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Tool results: result 0; result 1; result 2"
    assert second.choices[0].finish_reason == "stop"


def test_steps_script(client: OpenAI) -> None:
    messages: list[Any] = scripted({"steps": [
        {"tool_calls": [{"name": "now", "arguments": {}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        {"text": "All done."},
    ]})
    names = []
    for _ in range(2):
        reply = client.chat.completions.create(model="test-model", messages=messages)
        [call] = reply.choices[0].message.tool_calls or []
        names.append(call.function.name)  # type: ignore[union-attr]
        messages.append(reply.choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
    final = client.chat.completions.create(model="test-model", messages=messages)
    assert names == ["now", "get_weather"]
    assert final.choices[0].message.content == "All done."


@pytest.mark.parametrize("param", ["max_completion_tokens", "max_tokens"])
def test_max_tokens_finishes_with_length(client: OpenAI, param: str) -> None:
    limit: Any = {param: 3}
    reply = client.chat.completions.create(
        model="test-model", messages=scripted({"tokens": 10}), **limit)
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "tok0 tok1 tok2 "
    assert reply.usage is not None and reply.usage.completion_tokens == 3

    stream = client.chat.completions.create(
        model="test-model", messages=scripted({"tokens": 10}), stream=True,
        stream_options={"include_usage": True}, **limit)
    _, text, _, finish, usage = collect(stream)
    assert finish == "length"
    assert text == "tok0 tok1 tok2 "
    assert usage is not None and usage.completion_tokens == 3


def test_max_tokens_not_reached(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="test-model", messages=scripted({"tokens": 3}), max_completion_tokens=3)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "tok0 tok1 tok2"


def test_request_parameters_are_recorded(client: OpenAI, server: ModelServer) -> None:
    client.chat.completions.create(
        model="test-model", messages=scripted({"text": "{}"}), stream=True,
        stream_options={"include_usage": True}, tools=TOOLS, tool_choice="required",
        parallel_tool_calls=False, response_format={"type": "json_object"}, temperature=0.5,
        top_p=0.9, max_completion_tokens=50).close()
    [record] = server.requests()
    body = record["body"]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert (body["temperature"], body["top_p"], body["max_completion_tokens"]) == (0.5, 0.9, 50)
    assert record["stream"] is True


@pytest.mark.parametrize(("status", "error"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (404, openai.NotFoundError), (429, openai.RateLimitError),
    (500, openai.InternalServerError), (503, openai.InternalServerError),
])
@pytest.mark.parametrize("stream", [False, True])
def test_error_status_raises(client: OpenAI, server: ModelServer, status: int,
                             error: type[openai.APIStatusError], stream: bool) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(
            model="test-model", stream=stream,
            messages=scripted({"status": status, "error_message": f"boom {status}"}))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == f"boom {status}"
    assert {"type", "param", "code"} <= set(caught.value.body)
    [record] = server.requests()
    assert record["status"] == status


def test_fail_times_then_success(server: ModelServer) -> None:
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=3, timeout=20)
    messages = scripted({"status": 429, "fail_times": 2, "retry_after_ms": 1, "text": "ok now"})
    reply = client.chat.completions.create(model="test-model", messages=messages)
    assert reply.choices[0].message.content == "ok now"
    records = server.requests()
    assert [r["status"] for r in records] == [429, 429, 200]
    assert [r["headers"]["x-stainless-retry-count"] for r in records] == ["0", "1", "2"]
    # the counter is per script text: the same script now always succeeds...
    again = client.chat.completions.create(model="test-model", messages=messages)
    assert again.choices[0].message.content == "ok now"
    # ...until the counters are cleared.
    server.clear()
    no_retry = client.with_options(max_retries=0)
    with pytest.raises(openai.RateLimitError):
        no_retry.chat.completions.create(model="test-model", messages=messages)


def test_delay_ms(client: OpenAI) -> None:
    started = time.monotonic()
    client.chat.completions.create(model="test-model", messages=scripted({"delay_ms": 300}))
    assert time.monotonic() - started >= 0.3


def test_chunk_delay_ms_spreads_the_stream(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test-model", stream=True,
        messages=scripted({"tokens": 3, "chunk_delay_ms": 100}))
    arrivals = [time.monotonic() for _ in stream]
    assert arrivals[-1] - arrivals[0] >= 0.35  # 4 gaps of 100 ms between 5 chunks


def poll_records(server: ModelServer, predicate: Any, seconds: float = 10) -> list[Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(server.base_url + "/_requests") as response:
            records = json.loads(response.read())
        if predicate(records):
            return records
        time.sleep(0.05)
    raise AssertionError(f"condition not met, records: {records}")


def test_disconnect_is_detected(client: OpenAI, server: ModelServer) -> None:
    stream = client.chat.completions.create(
        model="test-model", stream=True, messages=scripted({"hang": True, "text": "hi"}))
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    records = server.requests()
    assert records[0]["completed"] is False and records[0]["disconnected"] is False
    stream.close()
    records = poll_records(server, lambda rs: rs[0]["disconnected"])
    assert records[0]["completed"] is False


def test_hang_ends_at_max_tokens(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test-model", stream=True, max_completion_tokens=4,
        messages=scripted({"hang": True, "text": "a b", "chunk_delay_ms": 1}))
    _, text, _, finish, _ = collect(stream)
    assert text == "a b tok2 tok3 "
    assert finish == "length"


def test_disconnect_during_delay_is_detected(server: ModelServer) -> None:
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="test-model",
                                       messages=scripted({"delay_ms": 5000}))
    poll_records(server, lambda rs: rs[0]["disconnected"])


def test_delay_on_a_descriptor_past_1024(server: ModelServer) -> None:
    """Waits work on any descriptor (select refuses those past 1024; a benchmark holds
    thousands of connections): the delay is served, and a client gone during it is seen."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("needs an open-files limit of 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=0.5)
        reply = client.chat.completions.create(model="test-model",
                                               messages=scripted({"delay_ms": 100}))
        assert reply.choices[0].message.content
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="test-model",
                                           messages=scripted({"delay_ms": 5000}))
        poll_records(server, lambda rs: rs[-1]["disconnected"])
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_http_wire_format_and_keep_alive(server: ModelServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):  # the same connection serves several streams
            body = json.dumps({"model": "test-model", "stream": True,
                               "stream_options": {"include_usage": True},
                               "messages": scripted({"text": "x y"})})
            connection.request("POST", "/v1/chat/completions", body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Type", "").startswith("text/event-stream")
            assert response.getheader("Transfer-Encoding") == "chunked"
            raw = response.read().decode()
            events = raw.split("\n\n")
            assert events[-1] == ""
            assert events[-2] == "data: [DONE]"
            assert all(event.startswith("data: {") for event in events[:-2])
            payloads = [json.loads(event[len("data: "):]) for event in events[:-2]]
            assert all("usage" in p for p in payloads)
            assert [p["choices"][0]["finish_reason"] for p in payloads[:-1]] == [
                None, None, None, "stop"]
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        models = json.loads(response.read())
        assert int(response.getheader("Content-Length", "0")) > 0
        assert [m["id"] for m in models["data"]] == ["test-model"]
    finally:
        connection.close()


def test_models(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["test-model"]


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


def test_embeddings_float(client: OpenAI) -> None:
    result = client.embeddings.create(
        model="test-model", encoding_format="float", dimensions=32,
        input=["the cat sat on the mat", "The cat sat on a mat!", "quantum chromodynamics"])
    assert result.object == "list"
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 32 and abs(norm(v) - 1) < 1e-6 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > 0.7
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert vectors[0] == embed("the cat sat on the mat", 32)
    assert result.usage.prompt_tokens == result.usage.total_tokens == 6 + 6 + 2


def test_embeddings_default_base64(client: OpenAI, server: ModelServer) -> None:
    result = client.embeddings.create(model="test-model", input="hello world")
    assert server.requests()[0]["body"]["encoding_format"] == "base64"
    [data] = result.data
    assert len(data.embedding) == 64
    assert abs(norm(data.embedding) - 1) < 1e-6
    expected = embed("hello world")
    assert all(abs(a - b) < 1e-6 for a, b in zip(data.embedding, expected, strict=True))


def test_embeddings_explicit_base64(client: OpenAI) -> None:
    result = client.embeddings.create(model="test-model", input=["a b"], dimensions=8,
                                      encoding_format="base64")
    raw = result.data[0].embedding
    assert isinstance(raw, str)
    vector = struct.unpack("<8f", base64.b64decode(raw))
    assert abs(norm(list(vector)) - 1) < 1e-6


def test_embeddings_reject_empty_input(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="test-model", input="")


def test_async_client_stream(server: ModelServer) -> None:
    async def run() -> str:
        client = openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        async with client:
            stream = await client.chat.completions.create(
                model="test-model", stream=True, messages=scripted({"tokens": 50}),
                stream_options={"include_usage": True})
            return "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])

    text = asyncio.run(run())
    assert text == " ".join(f"tok{i}" for i in range(50))


def test_bad_script_json_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="SCRIPT"):
        client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "SCRIPT: {nope"}])


def test_concurrency_counts_requests_open_at_once(server: ModelServer) -> None:
    """Delayed calls made together are open together; the peak stays after they end."""
    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        async with client:
            await asyncio.gather(*(client.chat.completions.create(
                model="test-model", messages=scripted({"delay_ms": 500})) for _ in range(20)))

    asyncio.run(run())
    assert server.concurrency() == {"open": 0, "peak": 20}
    with urllib.request.urlopen(f"{server.base_url}/_concurrency") as response:
        assert json.loads(response.read()) == {"open": 0, "peak": 20}
    server.clear()
    assert server.concurrency() == {"open": 0, "peak": 0}


def test_gathered_calls_are_answered_once_all_are_open(server: ModelServer,
                                                       client: OpenAI) -> None:
    """Calls started one by one, each slower than the last, are held until all are open;
    one gathering for more than ever come is answered when its wait runs out."""
    def call(index: int) -> str:
        time.sleep(index * 0.2)
        answer = client.chat.completions.create(model="test-model", messages=scripted(
            {"gather": 5, "text": f"answer {index}"}))
        return answer.choices[0].message.content or ""

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(call, range(5)))
    assert answers == [f"answer {index}" for index in range(5)]
    assert server.concurrency() == {"open": 0, "peak": 5}
    late = client.chat.completions.create(model="test-model", messages=scripted(
        {"gather": 6, "gather_s": 0.5, "text": "alone"}))
    assert late.choices[0].message.content == "alone"
