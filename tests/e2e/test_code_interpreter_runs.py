"""code_interpreter inside runs, as the docs' examples use it: the model's code runs in the
thread's sandbox session, steps show input and logs, drawn images come back as files."""
import io
import json
from typing import Any

import openai
import pytest

pytestmark = pytest.mark.usefixtures("workers")

CHAT = "/v1/chat/completions"
SALES = b"""month,units,revenue,returns
2024-01,120,2400,3
2024-02,135,2750,5
2024-03,160,3300,2
2024-04,150,3100,7
"""
VISUALIZE = """import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
df = pd.read_csv("/mnt/data/sales.csv")
for column in ["units", "revenue", "returns"]:
    figure, axes = plt.subplots()
    axes.plot(df["month"], df[column])
    axes.set_title(column)
df.describe().to_csv("/mnt/data/summary.csv")
print("total revenue", df["revenue"].sum())
"""


def script(steps: list[dict[str, Any]], marker: str) -> str:
    return f"{marker}\nSCRIPT: " + json.dumps({"steps": steps})


def code_call(code: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "code_interpreter", "arguments": {"code": code}}]}


def test_math_tutor_keeps_state_between_calls(client: openai.OpenAI, model_server: Any) -> None:
    assistant = client.beta.assistants.create(
        name="Math Tutor", model="test-model", tools=[{"type": "code_interpreter"}],
        instructions="You are a personal math tutor. Write and run code to answer math "
                     "questions.")
    marker = "I need to solve the equation `3x + 11 = 14`. Can you help me?"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script([
        code_call("x = (14 - 11) / 3\nprint(x)"), code_call("print(3 * x + 11)"),
        {"text": "The solution is x = 1."}], marker)}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        instructions="Please address the user as Jane Doe. The user has a premium account.")
    assert run.status == "completed", run.last_error

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    first = steps[0].step_details.tool_calls[0]
    assert first.type == "code_interpreter"
    assert first.code_interpreter.input == "x = (14 - 11) / 3\nprint(x)"
    assert first.code_interpreter.outputs[0].type == "logs"
    assert first.code_interpreter.outputs[0].logs.strip() == "1.0"
    second = steps[1].step_details.tool_calls[0].code_interpreter
    assert second.outputs[0].logs.strip() == "14.0"
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert reply.content[0].text.value == "The solution is x = 1."

    requests = [r for r in model_server.requests(CHAT) if "3x + 11" in json.dumps(r["body"])]
    assert [t["function"]["name"] for t in requests[0]["body"]["tools"]] == ["code_interpreter"]
    assert requests[1]["body"]["messages"][-1]["content"].strip() == "1.0"


def test_code_errors_go_back_to_the_model(client: openai.OpenAI, model_server: Any) -> None:
    assistant = client.beta.assistants.create(model="test-model",
                                              tools=[{"type": "code_interpreter"}])
    marker = "case-error-7"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script([
        code_call("1 / 0"), {"text": "Division by zero."}], marker)}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    requests = [r for r in model_server.requests(CHAT) if marker in json.dumps(r["body"])]
    assert "ZeroDivisionError" in requests[1]["body"]["messages"][-1]["content"]


@pytest.mark.parametrize("how", ["tool_resources", "attachment"])
def test_data_visualizer(client: openai.OpenAI, how: str) -> None:
    csv = client.files.create(file=("sales.csv", io.BytesIO(SALES)), purpose="assistants")
    assistant = client.beta.assistants.create(
        name="Data visualizer", model="test-model", tools=[{"type": "code_interpreter"}],
        description="You are great at creating beautiful data visualizations.",
        **({"tool_resources": {"code_interpreter": {"file_ids": [csv.id]}}}
           if how == "tool_resources" else {}))
    answer = "Here are the charts; the summary is at sandbox:/mnt/data/summary.csv."
    message: dict[str, Any] = {"role": "user", "content": script([
        {**code_call(VISUALIZE), "chunk_delay_ms": 25}, {"text": answer}],
        "Create 3 data visualizations based on the trends in this file.")}
    if how == "attachment":
        message["attachments"] = [{"file_id": csv.id, "tools": [{"type": "code_interpreter"}]}]
    thread = client.beta.threads.create(messages=[message])

    deltas: list[Any] = []
    snapshots: list[Any] = []

    class Handler(openai.AssistantEventHandler):
        def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
            deltas.append(delta)
            snapshots.append(snapshot)

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=Handler()) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "completed", run.last_error
    inputs = [d.code_interpreter.input for d in deltas
              if d.type == "code_interpreter" and d.code_interpreter.input]
    # The code is shown as the model streams it, before it runs.
    assert len(inputs) > 1 and "".join(inputs) == VISUALIZE
    first_output = next(i for i, d in enumerate(deltas) if d.code_interpreter.outputs)
    assert "".join(d.code_interpreter.input or "" for d in deltas[:first_output]) == VISUALIZE
    assert snapshots[-1].code_interpreter.input == VISUALIZE
    assert snapshots[-1].code_interpreter.outputs

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    outputs = steps[0].step_details.tool_calls[0].code_interpreter.outputs
    assert "total revenue 11550" in outputs[0].logs
    images = [o.image.file_id for o in outputs if o.type == "image"]
    assert len(images) == 3

    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = reply.content[0].text
    assert text.value == answer
    [link] = text.annotations
    assert link.type == "file_path" and link.text == "sandbox:/mnt/data/summary.csv"
    assert text.value[link.start_index:link.end_index] == link.text
    summary = client.files.content(link.file_path.file_id).read()
    assert b"revenue" in summary
    assert [c.image_file.file_id for c in reply.content[1:]] == images
    png = client.files.content(images[0]).read()
    assert png.startswith(b"\x89PNG")
    assert client.files.retrieve(images[0]).purpose == "assistants_output"
