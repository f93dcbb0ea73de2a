"""A runs worker told to stop (SIGTERM, as `docker stop` or Ctrl-C do) mid-run.

A run that ends within the grace period (TREADLE_WORKER_SHUTDOWN_GRACE_SECONDS) ends on that
worker; a longer one is handed back at once and another worker repeats only the interrupted
model call. Either way the run ends completed with one message and no step twice.
"""
import json
import signal
import time
from typing import Any

import openai

from tests.e2e.test_recovery import script, wait_status
from tests.support.stack import Stack, stack

__all__ = ["stack"]


def started_run(stack: Stack, tokens: int) -> tuple[openai.OpenAI, Any, Any, str]:
    base = stack.api()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=stack.key, max_retries=0)
    assistant = client.beta.assistants.create(model="test-model")
    text = script(tokens=tokens, chunk_delay_ms=50)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 30
    while not client.beta.threads.messages.list(thread.id, run_id=run.id).data:
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    return client, thread, run, text.split("\n")[0]


def assert_one_answer(client: openai.OpenAI, thread: Any, run: Any, tokens: int) -> None:
    done = wait_status(client, thread.id, run.id, {"completed", "failed", "cancelled"})
    assert done.status == "completed", done.last_error
    messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(messages) == 1
    assert messages[0].content[0].text.value.endswith(f"tok{tokens - 1}")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]


def calls(model_server: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in model_server.requests("/v1/chat/completions")
            if marker in json.dumps(r["body"])]


def test_a_stopped_worker_finishes_a_short_run(stack: Stack, model_server: Any) -> None:
    worker = stack.runs_worker("runs-stopped")
    client, thread, run, marker = started_run(stack, tokens=40)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert_one_answer(client, thread, run, tokens=40)
    assert len(calls(model_server, marker)) == 1


def test_a_stopped_worker_hands_a_long_run_back(stack: Stack, model_server: Any) -> None:
    stack.env["TREADLE_WORKER_SHUTDOWN_GRACE_SECONDS"] = "1"
    worker = stack.runs_worker("runs-leaving")
    client, thread, run, marker = started_run(stack, tokens=300)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    # Handed back, not lost: the run waits for a worker, not for its lease to lapse.
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status in (
        "queued", "in_progress")
    stack.runs_worker("runs-heir")
    assert_one_answer(client, thread, run, tokens=300)
    made = calls(model_server, marker)
    assert len(made) == 2 and not made[0]["completed"] and made[1]["completed"]
