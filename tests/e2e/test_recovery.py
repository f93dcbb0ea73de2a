"""A stack of its own (tests/support/stack): two API replicas, runs workers that can be
killed, and other brokers.
"""
import base64
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import openai
import pytest
import redis
from openai.lib.streaming import AssistantEventHandler, AssistantStreamManager
from openai.types.beta import AssistantStreamEvent

from tests.e2e.events import read_events
from tests.support.stack import Stack, stack

__all__ = ["stack"]


def script(**plan: Any) -> str:
    return f"{uuid.uuid4().hex}\nSCRIPT: " + json.dumps(plan)


def wait_status(client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str],
                seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run stayed {run.status}")


def test_killed_worker_hands_the_run_on(stack: Stack, model_server: Any) -> None:
    first_api, second_api = stack.api(), stack.api()
    victim = stack.runs_worker("runs-victim")
    client = openai.OpenAI(base_url=f"{first_api}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    text = script(tokens=60, chunk_delay_ms=50)
    marker = text.split("\n")[0]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)

    def calls() -> list[dict[str, Any]]:
        return [r for r in model_server.requests("/v1/chat/completions")
                if marker in json.dumps(r["body"])]

    deadline = time.monotonic() + 30
    while not client.beta.threads.messages.list(thread.id, run_id=run.id).data:
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stack.runs_worker("runs-heir")

    done = wait_status(client, thread.id, run.id, {"completed", "failed", "cancelled"})
    assert done.status == "completed", done.last_error
    messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(messages) == 1
    assert messages[0].content[0].text.value.endswith("tok59")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == messages[0].id
    made = calls()
    assert len(made) == 2 and not made[0]["completed"] and made[1]["completed"]

    # The run's events, read through the other replica, end with its completion.
    names = [e["event"] for e in read_events(second_api, stack.key, thread.id, run.id)]
    assert names[-2:] == ["thread.run.completed", "done"]


class Follower(AssistantEventHandler):
    """The SDK's event handler, noting each message's text deltas, every message and step
    id the stream named, and how each step ended; `on_deltas(n)` is called at each delta."""

    def __init__(self, on_deltas: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.on_deltas = on_deltas
        self.deltas = 0
        self.texts: dict[str, str] = {}
        self.message_ids: set[str] = set()
        self.step_ids: set[str] = set()
        self.step_ends: dict[str, str] = {}

    def on_event(self, event: Any) -> None:
        if event.event.startswith("thread.message"):
            self.message_ids.add(event.data.id)
        elif event.event.startswith("thread.run.step"):
            self.step_ids.add(event.data.id)

    def _delta(self) -> None:
        self.deltas += 1
        if self.on_deltas is not None:
            self.on_deltas(self.deltas)

    def on_message_delta(self, delta: Any, snapshot: Any) -> None:
        for part in delta.content or []:
            if part.type == "text" and part.text and part.text.value:
                self.texts[snapshot.id] = self.texts.get(snapshot.id, "") + part.text.value
        self._delta()

    def on_run_step_delta(self, delta: Any, snapshot: Any) -> None:
        self._delta()

    def on_run_step_done(self, run_step: Any) -> None:
        self.step_ends[run_step.id] = run_step.status


def replayed(client: openai.OpenAI, thread_id: str, run_id: str) -> Follower:
    """A client that connects after the fact and replays the run's stream from its start
    (the events extension) through the SDK's event handler."""
    follower = Follower()
    path = f"/threads/{thread_id}/runs/{run_id}/events"
    with AssistantStreamManager(lambda: client.get(
            path, cast_to=AssistantStreamEvent, stream=True,
            stream_cls=openai.Stream[AssistantStreamEvent]), event_handler=follower) as handler:
        handler.until_done()
    return follower


def assert_holds_the_stored_run(client: openai.OpenAI, thread_id: str, run_id: str,
                                follower: Follower) -> None:
    """What the SDK folded from the stream is what Treadle stores: each message (the SDK's
    final snapshot and the text its deltas spelled), each step and how it ended, and every
    id the stream named answers."""
    messages = client.beta.threads.messages.list(thread_id, run_id=run_id, order="asc").data
    folded = follower.get_final_messages() if follower.message_ids else []
    assert [m.id for m in folded] == [m.id for m in messages]
    for mine, stored in zip(folded, messages, strict=True):
        assert mine.status == stored.status
        assert mine.incomplete_details == stored.incomplete_details
        assert [p.model_dump() for p in mine.content] == [p.model_dump() for p in stored.content]
        assert follower.texts.get(stored.id, "") == "".join(
            p.text.value for p in stored.content if p.type == "text")
    steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc").data
    assert [s.id for s in follower.get_final_run_steps()] == [s.id for s in steps]
    assert follower.step_ends == {s.id: s.status for s in steps if s.status != "in_progress"}
    assert follower.message_ids == {m.id for m in messages}
    assert follower.step_ids == {s.id for s in steps}


def killed_mid_stream(stack: Stack, victim: subprocess.Popen[bytes], after: int
                      ) -> Callable[[int], None]:
    """At the `after`th delta the client saw, the worker dies (kill -9) and another starts."""
    def at(deltas: int) -> None:
        if deltas == after:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            stack.runs_worker("runs-heir")
    return at


def test_a_stream_followed_through_a_crash_holds_the_stored_answer(
        stack: Stack, model_server: Any) -> None:
    base = stack.api()
    victim = stack.runs_worker("runs-victim")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    text = script(tokens=60, chunk_delay_ms=50)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    follower = Follower(killed_mid_stream(stack, victim, after=5))
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=follower) as handler:
        handler.until_done()
    run = follower.get_final_run()
    assert run.status == "completed", run.last_error
    made = [r for r in model_server.requests("/v1/chat/completions")
            if text.split("\n")[0] in json.dumps(r["body"])]
    assert len(made) == 2 and not made[0]["completed"] and made[1]["completed"]
    # The model call was made again; the heir carried on with the message the stream showed.
    (answer,) = follower.get_final_messages()
    assert answer.content[0].text.value.endswith("tok59")
    assert follower.texts[answer.id] == answer.content[0].text.value
    assert_holds_the_stored_run(client, thread.id, run.id, follower)
    assert_holds_the_stored_run(client, thread.id, run.id, replayed(client, thread.id, run.id))


def test_a_tool_step_cut_by_a_crash_is_withdrawn_as_the_sdk_folds_it(
        stack: Stack, model_server: Any) -> None:
    # The run must not expire (from its creation) while it waits for the heir and the test.
    stack.env["TREADLE_RUN_EXPIRY_SECONDS"] = "120"
    base = stack.api()
    victim = stack.runs_worker("runs-victim")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    words = " ".join(f"w{i}" for i in range(60))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "f", "arguments": {"text": words}}], chunk_delay_ms=50)}])
    follower = Follower(killed_mid_stream(stack, victim, after=5))
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=follower) as handler:
        handler.until_done()
    run = follower.get_final_run()
    assert run.status == "requires_action", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    withdrawn, parked = steps
    assert withdrawn.status == "failed" and withdrawn.last_error.code == "server_error"
    assert parked.status == "in_progress"
    # The SDK never replaces a step's snapshot: what it folded is what the step holds.
    folded = {s.id: s for s in follower.get_final_run_steps()}[withdrawn.id]
    assert [(c.id, c.function.name, c.function.arguments)
            for c in folded.step_details.tool_calls] == [
        (c.id, c.function.name, c.function.arguments)
        for c in withdrawn.step_details.tool_calls]
    assert 0 < len(withdrawn.step_details.tool_calls[0].function.arguments) < len(words)
    assert_holds_the_stored_run(client, thread.id, run.id, follower)

    call = run.required_action.submit_tool_outputs.tool_calls[0]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "ok"}])
    assert done.status == "completed"
    # A late client's SDK replays the stream's first stretch (it stops at the first done):
    # the withdrawn step ends failed there, holding what the step holds.
    later = replayed(client, thread.id, run.id)
    assert later.step_ends[withdrawn.id] == "failed"
    assert [s.id for s in later.get_final_run_steps()] == [withdrawn.id, parked.id]
    refolded = later.get_final_run_steps()[0].step_details.tool_calls
    assert [c.function.arguments for c in refolded] == [
        c.function.arguments for c in withdrawn.step_details.tool_calls]


def parked_function_run(stack: Stack) -> tuple[openai.OpenAI, Any, Any]:
    """An API and a runs worker of the stack, and a run waiting for a function's output."""
    base = stack.api()
    stack.runs_worker("runs")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tool_calls=[{"name": "f", "arguments": {}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action"
    return client, thread, run


def test_deadlines_are_rebuilt_when_timers_start(stack: Stack) -> None:
    client, thread, run = parked_function_run(stack)
    assert stack.timers is not None
    os.kill(stack.timers.pid, signal.SIGKILL)
    stack.timers.wait()
    # Redis lost its index of deadlines; Postgres still has them.
    redis.Redis.from_url(stack.env["TREADLE_REDIS_URL"]).delete("deadlines:runs")
    stack.timers = stack.start(["worker", "--pool", "timers"], "timers-again", "ready.")
    expired = wait_status(client, thread.id, run.id, {"expired", "completed", "failed"})
    assert expired.status == "expired"


AMQP_URL = os.environ.get("TREADLE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.mark.parametrize("stack", [AMQP_URL], indirect=True, ids=["rabbitmq"])
def test_rabbitmq_broker(stack: Stack) -> None:
    client, thread, run = parked_function_run(stack)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id,
                                                           "output": "ok"}])
    assert done.status == "completed"


def task_run_id(raw: bytes) -> str:
    """The run id a runs task names, from its message as kombu keeps it in Redis."""
    args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    return str(args[0])


def queued_run_ids(broker: redis.Redis) -> list[str]:
    """The run ids of the tasks waiting in the runs queue (kombu's Redis list), oldest last."""
    return [task_run_id(raw) for raw in broker.lrange("runs", 0, -1)]


def test_a_backlog_is_not_sent_again_and_a_lost_task_is(stack: Stack, model_server: Any
                                                        ) -> None:
    """Runs wait in the queue past recovery's grace (no runs worker yet): the timers send none
    of them again while their tasks wait; tasks lost from the queue are sent again, once
    each; then every run completes once."""
    client = openai.OpenAI(base_url=f"{stack.api()}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    texts = [script(tokens=3) for _ in range(20)]
    runs = [client.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": text}]})
        for text in texts]
    broker = redis.Redis.from_url(stack.env["TREADLE_REDIS_URL"])
    assert sorted(queued_run_ids(broker)) == sorted(run.id for run in runs)

    # Recovery looks at a queued run after two lease periods; a lease period and a few ticks
    # later it would have sent each one again (once per lease period) before.
    lease = float(stack.env["TREADLE_RUN_LEASE_SECONDS"])
    until = max(run.created_at for run in runs) + 3 * lease + 3
    depths = []
    while time.time() < until:
        depths.append(broker.llen("runs"))
        time.sleep(0.25)
    assert set(depths) == {20}

    # Five tasks lost, the oldest (recovery cannot tell which were lost; it sends the oldest
    # queued runs again, as many as are short): each is sent again, once.
    lost = [task_run_id(raw) for raw in broker.rpop("runs", 5) or []]
    assert len(lost) == 5
    deadline = time.monotonic() + 20
    while broker.llen("runs") < 20:
        assert time.monotonic() < deadline, "the lost tasks were never sent again"
        time.sleep(0.2)
    # A lease period on, nothing more was sent.
    time.sleep(lease)
    waiting = queued_run_ids(broker)
    assert sorted(waiting) == sorted(run.id for run in runs), lost

    stack.runs_worker("runs")
    for run in runs:
        done = wait_status(client, run.thread_id, run.id, {"completed", "failed", "cancelled"})
        assert done.status == "completed", done.last_error
    for text in texts:
        marker = text.split("\n")[0]
        assert len([r for r in model_server.requests("/v1/chat/completions")
                    if marker in json.dumps(r["body"])]) == 1
