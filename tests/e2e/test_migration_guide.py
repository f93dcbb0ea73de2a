"""OpenAI's Assistants migration guide, run against Treadle with only the client's `base_url`
(and key) changed (issue 15, deliverable 7).

Source: https://developers.openai.com/api/docs/assistants/migration
(also https://platform.openai.com/docs/assistants/migration). Each test below holds one of
the guide's Python examples for the Responses and Conversations APIs, verbatim, where the
guide's `openai = OpenAI()` becomes `OpenAI(base_url=..., api_key=...)`; the asserts after
each example are this test's own. The model keeps the guide's name: the test model server
answers any model name, and with no SCRIPT line it answers "You said: <the last message>".

- "From threads to conversations", request example (Conversation object): as written.
- "From runs to responses", request example (Response object): as written except the
  conversation id. The guide's literal `"conv_6896...2dab"` is a conversation of OpenAI's own
  account, which exists on no other account (nor on Treadle); the test passes the id of the
  conversation the previous example created.
- "Migrating your integration", step 2, backfilling a thread into a conversation: as written
  (it reads the thread through Treadle's Assistants API, `OPENAI_THREAD_ID` names a thread
  the test made there). The converted assistant message's `{"type": "output_text", "text":
  ...}` carries no `annotations`, which OpenAI accepts and so does Treadle.

Left out:
- "Migrating your integration", step 1 (create prompts from assistants): a dashboard step,
  no code.
- "Comparing full examples", user chat app, Responses API side: it calls
  `responses.create(prompt={"id": os.environ["OPENAI_PROMPT_ID"]}, ...)`; prompt objects are
  made in OpenAI's dashboard and Treadle serves none. Its other Python block is the
  Assistants API side (covered by the Assistants tests).

The previous SDK generation has no `client.responses`; under it (`make test-sdk1`) the module
is skipped.
"""
from typing import Any

import pytest
from openai import OpenAI

pytestmark = [
    pytest.mark.usefixtures("workers"),
    pytest.mark.skipif(not hasattr(OpenAI(api_key="unused"), "responses"),
                       reason="this openai SDK has no client.responses"),
]


@pytest.fixture
def base_url(api_base: str) -> str:
    return f"{api_base}/v1"


def _items(openai: OpenAI, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's items, oldest first, image URLs included (as OpenAI, they are left
    out unless asked for)."""
    page = openai.conversations.items.list(conversation_id, order="asc",
                                           include=["message.input_image.image_url"])
    return [item.model_dump(exclude_none=True) for item in page.data]


def _texts(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [(part["type"], part.get("text", "")) for part in item["content"]]


def test_from_threads_to_conversations(base_url: str, api_key: str) -> None:
    openai = OpenAI(base_url=base_url, api_key=api_key)
    conversation = openai.conversations.create(
      items=[{"role": "user", "content": "what are the 5 Ds of dodgeball?"}],
      metadata={"user_id": "peter_le_fleur"},
    )

    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert conversation.metadata == {"user_id": "peter_le_fleur"}
    [item] = _items(openai, conversation.id)
    assert item["type"] == "message" and item["role"] == "user"
    assert _texts(item) == [("input_text", "what are the 5 Ds of dodgeball?")]


def test_from_runs_to_responses(base_url: str, api_key: str) -> None:
    openai = OpenAI(base_url=base_url, api_key=api_key)
    conversation = openai.conversations.create(
      items=[{"role": "user", "content": "what are the 5 Ds of dodgeball?"}],
      metadata={"user_id": "peter_le_fleur"},
    )
    response = openai.responses.create(
      model="gpt-4.1",
      input=[{"role": "user", "content": "What are the 5 Ds of dodgeball?"}],
      conversation=conversation.id
    )

    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "gpt-4.1"
    assert response.output_text == "You said: What are the 5 Ds of dodgeball?"
    assert response.conversation is not None
    assert response.conversation.id == conversation.id
    [message] = response.output
    assert message.type == "message" and message.id.startswith("msg_")
    items = _items(openai, conversation.id)
    assert [(item["type"], item["role"]) for item in items] == [
        ("message", "user"), ("message", "user"), ("message", "assistant")]
    assert _texts(items[1]) == [("input_text", "What are the 5 Ds of dodgeball?")]
    assert items[2]["id"] == message.id
    assert _texts(items[2]) == [("output_text", response.output_text)]


def _thread(base_url: str, api_key: str) -> str:
    """A thread on Treadle holding a user text and image, an assistant answer, a user text."""
    return OpenAI(base_url=base_url, api_key=api_key).beta.threads.create(messages=[
        {"role": "user", "content": [
            {"type": "text", "text": "what are the 5 Ds of dodgeball?"},
            {"type": "image_url",
             "image_url": {"url": "https://example.com/wrench.png", "detail": "low"}}]},
        {"role": "assistant", "content": "Dodge, duck, dip, dive and dodge."},
        {"role": "user", "content": "And who said that?"},
    ]).id


def test_backfill_a_thread(base_url: str, api_key: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_THREAD_ID", _thread(base_url, api_key))

    import os

    from openai import OpenAI

    openai = OpenAI(base_url=base_url, api_key=api_key)
    messages = []
    thread_id = os.environ["OPENAI_THREAD_ID"]

    for page in openai.beta.threads.messages.list(
        thread_id=thread_id, order="asc"
    ).iter_pages():
        messages += page.data

    items = []
    for m in messages:
        item = {"role": m.role}
        item_content = []

        for content in m.content:
            match content.type:
                case "text":
                    item_content_type = "input_text" if m.role == "user" else "output_text"
                    item_content += [
                        {"type": item_content_type, "text": content.text.value}
                    ]
                case "image_url":
                    item_content += [
                        {
                            "type": "input_image",
                            "image_url": content.image_url.url,
                            "detail": content.image_url.detail,
                        }
                    ]

        item |= {"content": item_content}
        items.append(item)

    # create a conversation with your converted items
    conversation = openai.conversations.create(items=items)

    assert conversation.id.startswith("conv_")
    stored = _items(openai, conversation.id)
    assert [(item["type"], item["role"]) for item in stored] == [
        ("message", "user"), ("message", "assistant"), ("message", "user")]
    first = stored[0]["content"]
    assert first[0] == {"type": "input_text", "text": "what are the 5 Ds of dodgeball?"}
    assert first[1]["type"] == "input_image"
    assert first[1]["image_url"] == "https://example.com/wrench.png"
    assert first[1]["detail"] == "low"
    assert _texts(stored[1]) == [("output_text", "Dodge, duck, dip, dive and dodge.")]
    assert _texts(stored[2]) == [("input_text", "And who said that?")]
    answer = openai.responses.create(model="gpt-4.1", conversation=conversation.id,
                                     input="Carry on.")
    assert answer.status == "completed"
    assert answer.output_text == "You said: Carry on."
