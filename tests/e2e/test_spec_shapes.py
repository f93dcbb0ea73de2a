"""Every response body matches the spec's schema exactly: all required keys, no extra ones."""
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
import yaml

SPEC = Path(__file__).parent.parent / "spec" / "assistants-openapi.yaml"
# Fields the spec's request accepts and the SDK's model reads, but the response schema omits.
EXTENSIONS = {"AssistantObject": {"reasoning_effort"}}


def _nullable(node: Any) -> Any:
    """The spec mixes OpenAPI 3.0's `nullable: true` into a 3.1 document; say it in JSON
    Schema so the validator honours it."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    return node


@cache
def _components() -> dict[str, Any]:
    text = SPEC.read_text().replace("$recursiveAnchor: true", "")
    return dict(_nullable(yaml.safe_load(text)["components"]))


def check(body: dict[str, Any], schema_name: str) -> None:
    components = _components()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    declared = components["schemas"][schema_name]
    allowed = set(declared["properties"]) | EXTENSIONS.get(schema_name, set())
    assert set(body) <= allowed, set(body) - allowed
    assert set(declared.get("required", [])) <= set(body)


def raw(response: Any) -> dict[str, Any]:
    return json.loads(response.text)


def test_assistant_shapes(client: openai.OpenAI) -> None:
    body = raw(client.beta.assistants.with_raw_response.create(
        model="gpt-4o", name="n", tools=[{"type": "file_search"}, {"type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}}}],
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
    ))
    check(body, "AssistantObject")
    check(raw(client.beta.assistants.with_raw_response.retrieve(body["id"])), "AssistantObject")
    listed = raw(client.beta.assistants.with_raw_response.list())
    check({**listed, "data": []}, "ListAssistantsResponse")
    for item in listed["data"]:
        check(item, "AssistantObject")
    check(raw(client.beta.assistants.with_raw_response.delete(body["id"])),
          "DeleteAssistantResponse")


def test_thread_and_message_shapes(client: openai.OpenAI) -> None:
    thread = raw(client.beta.threads.with_raw_response.create(
        messages=[{"role": "user", "content": "hi"}], metadata={"a": "b"}))
    check(thread, "ThreadObject")
    message = raw(client.beta.threads.messages.with_raw_response.create(
        thread["id"], role="user", content=[{"type": "text", "text": "t"}, {
            "type": "image_url", "image_url": {"url": "https://example.com/i.png"}}]))
    check(message, "MessageObject")
    check(raw(client.beta.threads.messages.with_raw_response.list(thread["id"])),
          "ListMessagesResponse")
    check(raw(client.beta.threads.messages.with_raw_response.delete(
        message["id"], thread_id=thread["id"])), "DeleteMessageResponse")
    check(raw(client.beta.threads.with_raw_response.delete(thread["id"])),
          "DeleteThreadResponse")


def test_file_shapes(client: openai.OpenAI) -> None:
    file = raw(client.files.with_raw_response.create(file=("a.txt", io.BytesIO(b"a")),
                                                     purpose="assistants"))
    check(file, "OpenAIFile")
    check(raw(client.files.with_raw_response.list()), "ListFilesResponse")
    check(raw(client.files.with_raw_response.delete(file["id"])), "DeleteFileResponse")


def test_error_shape(client: openai.OpenAI) -> None:
    try:
        client.beta.assistants.retrieve("asst_" + "0" * 24)
    except openai.NotFoundError as error:
        body = error.response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert error.response.headers["x-request-id"].startswith("req_")
    else:
        raise AssertionError("expected a 404")


@pytest.mark.usefixtures("workers")
def test_run_and_step_shapes(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="test-model", tools=[{
        "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": (
        'SCRIPT: {"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}')}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    check(raw(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)),
          "RunObject")
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id,
                                                           "output": "1"}])
    done = raw(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id))
    check(done, "RunObject")
    listed = raw(client.beta.threads.runs.with_raw_response.list(thread.id))
    check({**listed, "data": []}, "ListRunsResponse")
    steps = raw(client.beta.threads.runs.steps.with_raw_response.list(run.id,
                                                                        thread_id=thread.id))
    check({**steps, "data": []}, "ListRunStepsResponse")
    for step in steps["data"]:
        check(step, "RunStepObject")
