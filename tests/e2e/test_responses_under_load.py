"""The Responses API under production conditions, through the official SDK: a model silent
for 20 s before its first token (a create held open, a stream kept open), hundreds of
background responses in flight in one runs worker process, a worker killed (-9) among them,
and cancels among them. A response is a run of the same id: what each ended as is read from
the SDK and checked against Postgres and against its events replayed to a client.

The many-in-flight tests run a stack of their own (tests/support/stack); the background
responses are created before its runs worker starts, so the worker takes them all from the
queue at once, and the model server's own count of requests open at once proves how many
were in flight together (their model calls gather: none is answered before all are open).
"""
import json
import re
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.e2e.scripts import CHAT, sent
from tests.support.stack import Stack, connect, kill_mid_stream, outcomes, stack, wait_all_ended
from tests.support.waiting import wait_for

__all__ = ["stack"]

pytestmark = [pytest.mark.skipif(not hasattr(openai.OpenAI, "responses"),
                                 reason="this openai SDK has no client.responses"),
              # Hundreds of responses at once: never beside another such test (Makefile).
              pytest.mark.xdist_group("machine")]

MODEL = "test-model"
# A model silent this long before its first token.
SILENCE_MS = 20_000
# Shorter than the silence: only the server's keep-alives keep a stream's reads going.
STREAM_READ_TIMEOUT_SECONDS = 12
# Hundreds in flight: the model's first token after FIRST_TOKEN_MS, then TOKENS tokens.
FIRST_TOKEN_MS = 3000
TOKENS = 20
ANSWER = " ".join(f"tok{i}" for i in range(TOKENS))
# The answers of the responses to cancel: a minute long, so on however loaded a machine the
# cancel lands while the answer streams (a run whose answer ended first may end completed).
CANCELLED_TOKENS = 400


def script(**plan: Any) -> str:
    """A model script behind a marker of its own, which finds its model calls again."""
    return f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(plan)


@pytest.mark.usefixtures("workers")
def test_a_silent_model_is_waited_for_by_a_create_and_by_a_stream(
        client: openai.OpenAI, model_server: Any) -> None:
    held = script(tokens=12, delay_ms=SILENCE_MS)
    streamed = script(tokens=12, delay_ms=SILENCE_MS, chunk_delay_ms=20)
    expected = " ".join(f"tok{i}" for i in range(12))
    # The API sends a keep-alive comment down a quiet stream every 5 s
    # (stream_keepalive_seconds), a response's as a run's: reads never wait out the silence.
    patient = client.with_options(timeout=STREAM_READ_TIMEOUT_SECONDS)
    # Both at once: the create's POST is held open (the SDK's own 600 s timeout) while the
    # stream is followed through the same silence.
    with ThreadPoolExecutor(1) as pool:
        waited = pool.submit(client.responses.create, model=MODEL, input=held)
        with patient.responses.stream(model=MODEL, input=streamed) as stream:
            types = []
            deltas = []
            for event in stream:
                types.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = stream.get_final_response()
        answer = waited.result()

    assert answer.status == "completed" and answer.output_text == expected
    assert client.responses.retrieve(answer.id).model_dump() == answer.model_dump()
    assert final.status == "completed" and final.output_text == expected
    assert "".join(deltas) == expected
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert client.responses.retrieve(final.id).output_text == expected
    # Each model call was made once: nothing on the way timed out and tried again.
    for text in (held, streamed):
        [call] = sent(model_server, text.split("\n")[0])
        assert call["completed"]


def create_background(client: openai.OpenAI, texts: list[str]) -> list[str]:
    """A background response per text, created by 16 clients at once; their ids. Each
    create carries its script's marker as its idempotency key, so a create the client
    retries (a machine under load) is made once."""
    def create(text: str) -> str:
        response = client.responses.create(
            model=MODEL, input=text, background=True,
            extra_headers={"Idempotency-Key": text.split("\n")[0]})
        assert response.status == "queued"
        return response.id

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(create, texts))


def queued_responses(stack: Stack, count: int, long: int = 0, **plan: Any
                     ) -> tuple[openai.OpenAI, list[str], list[str]]:
    """A client of an API of the stack, and `count` background responses (ids, and the
    markers of their scripts, in order) left queued: no runs worker yet. The first `long`
    ones answer CANCELLED_TOKENS tokens."""
    client = openai.OpenAI(base_url=f"{stack.api()}/v1", api_key=stack.key, max_retries=3)
    texts = [script(delay_ms=FIRST_TOKEN_MS, tokens=CANCELLED_TOKENS if n < long else TOKENS,
                    **plan) for n in range(count)]
    return client, create_background(client, texts), [text.split("\n")[0] for text in texts]


def replayed(client: openai.OpenAI, response_id: str) -> list[Any]:
    """The response's events, as a client that retrieves its stream sees them."""
    with client.responses.retrieve(response_id, stream=True) as events:
        return list(events)


def assert_answered_once(client: openai.OpenAI, stack: Stack, response_ids: list[str]
                         ) -> None:
    """Each response completed with one whole answer, shown once: in what a retrieve
    shows, in what Postgres holds and in its replayed events."""
    stored = outcomes(stack, response_ids)

    def check(response_id: str) -> None:
        response = client.responses.retrieve(response_id)
        assert response.status == "completed", (response_id, response.error)
        [message] = response.output
        assert message.type == "message" and message.status == "completed"
        assert response.output_text == ANSWER
        assert stored[response_id]["messages"] == [("completed", ANSWER)]
        assert stored[response_id]["steps"] == [("message_creation", "completed")]
        events = replayed(client, response_id)
        types = Counter(event.type for event in events)
        assert types["response.completed"] == 1
        assert types["response.failed"] == types["response.incomplete"] == 0
        added = [event.item.id for event in events if event.type == "response.output_item.added"]
        assert added == [message.id]
        # Its text spelled once: what the stream showed before a crash is not sent again.
        assert "".join(event.delta for event in events
                       if event.type == "response.output_text.delta") == ANSWER
        assert events[-1].response.output == response.output

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, response_ids))


def calls_by_marker(model_server: Any) -> dict[str, list[bool]]:
    """Per script marker, whether each of its model calls was answered whole, in order."""
    calls: dict[str, list[bool]] = {}
    for request in model_server.requests(CHAT):
        marker = re.search(r"[0-9a-f]{32}(?=\\nSCRIPT)", json.dumps(request["body"]))
        assert marker is not None
        calls.setdefault(marker.group(0), []).append(request["completed"])
    return calls


def test_hundreds_in_flight_at_once_each_complete_once_or_stay_cancelled(
        stack: Stack, model_server: Any) -> None:
    count = 300
    # Each answer streams 150 ms a token after the first; the first ten, to be cancelled,
    # for a minute.
    client, response_ids, markers = queued_responses(stack, count, long=10, gather=count,
                                                     chunk_delay_ms=150)
    model_server.clear()
    stack.wide_runs_worker("runs-wide")
    # Some are cancelled while every one waits for its first token, some mid-answer.
    waiting, answering = response_ids[:5], response_ids[5:10]
    wait_for(lambda: model_server.concurrency()["open"] == count, 90,
             f"the model never had {count} requests open at once")
    for response_id in waiting:
        client.responses.cancel(response_id)
    with connect(stack) as conn:
        wait_for(lambda: int(conn.execute(
            "SELECT count(*) AS n FROM messages WHERE run_id = ANY(%s)"
            " AND status = 'in_progress'", [answering]).fetchone()["n"]) == len(answering), 60,
            "the responses to cancel mid-answer never started streaming")
    for response_id in answering:
        client.responses.cancel(response_id)

    found = wait_all_ended(stack, response_ids, 90)
    assert model_server.concurrency()["peak"] == count
    cancelled = waiting + answering
    rest = [response_id for response_id in response_ids if response_id not in cancelled]
    assert [r for r in rest if found[r]["status"] != "completed"] == []
    assert_answered_once(client, stack, rest)
    calls = calls_by_marker(model_server)
    assert sorted(calls) == sorted(markers)
    assert all(calls[markers[response_ids.index(r)]] == [True] for r in rest)
    # The cancelled ones, looked at after all the others ended: cancelled still.
    for response_id in cancelled:
        response = client.responses.retrieve(response_id)
        assert response.status == "cancelled"
        assert found[response_id]["status"] == "cancelled"
        assert all(item.status != "completed" for item in response.output)
        types = Counter(event.type for event in replayed(client, response_id))
        assert types["response.completed"] == 0
        assert types["response.incomplete"] == 1
        # Its model call was never made again (stopped, or, on a loaded machine, answered in
        # full before the worker's next look at the cancel flag: the run ends cancelled
        # either way, as the assertions above say).
        assert len(calls[markers[response_ids.index(response_id)]]) == 1
    for response_id in answering:
        [(status, text)] = found[response_id]["messages"]
        assert status == "incomplete" and text != ANSWER


def test_a_worker_killed_among_background_responses_loses_and_repeats_nothing(
        stack: Stack, model_server: Any) -> None:
    count = 150
    # Each answer streams for TOKENS x 150 ms after the first token: long enough to be cut.
    client, response_ids, markers = queued_responses(stack, count, gather=count,
                                                     chunk_delay_ms=150)
    model_server.clear()
    victim = stack.wide_runs_worker("runs-victim")

    # Killed mid-stream: most responses have shown part of their answer.
    kill_mid_stream(stack, victim, response_ids, 60)

    found = wait_all_ended(stack, response_ids, 120)
    assert [r for r in found.values() if r["status"] != "completed"] == []
    assert_answered_once(client, stack, response_ids)
    # Each response's model call was made again at most once, where the crash cut it (one the
    # model had answered in full before the kill counts as cut when its run had not ended).
    calls = calls_by_marker(model_server)
    assert sorted(calls) == sorted(markers)
    assert all(made[-1] and len(made) <= 2 for made in calls.values())
    assert sum(len(made) == 2 for made in calls.values()) >= count * 0.9
