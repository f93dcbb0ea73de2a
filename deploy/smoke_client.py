"""Drive a running Treadle with the official openai SDK, as deploy/smoke.sh's last step.

    python deploy/smoke_client.py --base-url http://127.0.0.1:18080/v1 --api-key sk-...

Three runs, each against the test model server (tests/support/model_server.py), whose
answers follow the SCRIPT line of the thread's message: a function call answered with
submit_tool_outputs, a file_search over a freshly indexed vector store, and a
code_interpreter call executed in the sandbox. Prints each step's time; exits non-zero
(with the reason) on the first thing that is not as expected.
"""
import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import openai

MANUAL = b"""Maintenance manual for the Kestrel pump.
The service code for a blocked impeller is QV-7731. Replace the seal every 400 hours.
"""


class SmokeError(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeError(message)


def script(marker: str, **plan: Any) -> str:
    return f"{marker}\nSCRIPT: {json.dumps(plan)}"


def last_reply(client: openai.OpenAI, thread_id: str, run_id: str) -> str:
    reply = client.beta.threads.messages.list(thread_id, run_id=run_id).data[0]
    return str(reply.content[0].text.value)


def function_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="smoke-model", tools=[{
        "type": "function", "function": {
            "name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        "smoke-function", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    check(run.status == "requires_action", f"function run: {run.status} {run.last_error}")
    [call] = run.required_action.submit_tool_outputs.tool_calls
    check(json.loads(call.function.arguments) == {"city": "Oslo"}, "function run: arguments")
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    check(done.status == "completed", f"function run: {done.status} {done.last_error}")
    reply = last_reply(client, thread.id, run.id)
    check(reply == "Tool results: sunny", f"function run: reply {reply!r}")


def file_search_run(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="smoke manuals")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("kestrel.txt", io.BytesIO(MANUAL))])
    check(batch.file_counts.completed == 1, f"upload_and_poll: {batch.file_counts}")
    found = client.vector_stores.search(store.id, query="blocked impeller service code")
    check(bool(found.data) and "QV-7731" in found.data[0].content[0].text,
          "vector store search did not find the manual")

    assistant = client.beta.assistants.create(
        model="smoke-model", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        "smoke-file-search", tool_calls=[{"name": "file_search",
                                          "arguments": {"query": "blocked impeller"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    check(run.status == "completed", f"file_search run: {run.status} {run.last_error}")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    [call] = steps[0].step_details.tool_calls
    check(call.type == "file_search" and call.file_search.results[0].file_name == "kestrel.txt",
          "file_search run: the step does not show the manual")
    # The model was handed the passage and (scripted) echoes the tool results back.
    check("QV-7731" in last_reply(client, thread.id, run.id), "file_search run: reply")


def code_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="smoke-model",
                                              tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        "smoke-code", tool_calls=[{"name": "code_interpreter",
                                   "arguments": {"code": "print(6 * 7)"}}])}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    check(run.status == "completed", f"code run: {run.status} {run.last_error}")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    [call] = steps[0].step_details.tool_calls
    check(call.type == "code_interpreter", f"code run: step {call.type}")
    logs = [o.logs for o in call.code_interpreter.outputs if o.type == "logs"]
    check(logs == ["42\n"], f"code run: outputs {call.code_interpreter.outputs}")


CHECKS: dict[str, Callable[[openai.OpenAI], None]] = {
    "function run": function_run,
    "file_search run": file_search_run,
    "code run": code_run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    for name, drive in CHECKS.items():
        started = time.monotonic()
        try:
            drive(client)
        except (SmokeError, openai.OpenAIError) as error:
            print(f"FAILED {name}: {error}", file=sys.stderr)
            return 1
        print(f"ok {name} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
