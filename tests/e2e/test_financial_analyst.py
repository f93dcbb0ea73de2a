"""The docs' File Search quickstart, the Financial Analyst, end to end as written there:
a vector store filled by upload_and_poll, the assistant updated to use it, a file attached
to the thread's message for file_search, and a streamed run with an event handler whose
answer cites the attached file."""
import io
import json
from typing import Any

import openai
import pytest

from tests.support.documents import pdf_bytes

pytestmark = pytest.mark.usefixtures("workers")

GOOG = pdf_bytes([["Alphabet Inc. annual report on Form 10-K for fiscal year 2023.",
                   "Google Services revenues were 272.5 billion dollars."],
                  ["Google Cloud revenues grew to 33.1 billion dollars."]])
BRKA = (b"Berkshire Hathaway Inc. annual report 2023. Insurance float reached 169 billion "
        b"dollars. Operating earnings were 37.4 billion dollars.\n")
AAPL = pdf_bytes([["Apple Inc. Form 10-K for the fiscal year ended September 30, 2023.",
                   "15,550,061,000 shares of common stock were issued and outstanding as of "
                   "October 20, 2023."]])
QUESTION = "How many shares of AAPL were outstanding at the end of of October 2023?"


def test_financial_analyst_quickstart(client: openai.OpenAI) -> None:
    stores = getattr(client, "vector_stores", None) or client.beta.vector_stores
    assistant = client.beta.assistants.create(
        name="Financial Analyst Assistant",
        instructions="You are an expert financial analyst. Use your knowledge base to answer "
                     "questions about audited financial statements.",
        model="gpt-4o", tools=[{"type": "file_search"}])
    vector_store = stores.create(name="Financial Statements")
    file_batch = stores.file_batches.upload_and_poll(
        vector_store_id=vector_store.id,
        files=[("goog-10k.pdf", io.BytesIO(GOOG)), ("brka-10k.txt", io.BytesIO(BRKA))])
    assert file_batch.status == "completed" and file_batch.file_counts.completed == 2
    assistant = client.beta.assistants.update(
        assistant_id=assistant.id,
        tool_resources={"file_search": {"vector_store_ids": [vector_store.id]}})

    message_file = client.files.create(file=("aapl-10k.pdf", io.BytesIO(AAPL)),
                                       purpose="assistants")
    answer = ("There were 15,550,061,000 shares outstanding as of October 20, 2023"
              "【0:0†aapl-10k.pdf】.")
    plan = {"steps": [
        {"tool_calls": [{"name": "file_search",
                         "arguments": {"query": "AAPL shares of common stock outstanding "
                                                "October 2023"}}]},
        {"text": answer}]}
    thread = client.beta.threads.create(messages=[{
        "role": "user", "content": f"{QUESTION}\nSCRIPT: {json.dumps(plan)}",
        "attachments": [{"file_id": message_file.id, "tools": [{"type": "file_search"}]}]}])
    thread_stores = thread.tool_resources.file_search.vector_store_ids
    assert len(thread_stores) == 1
    # The thread's store indexes the attachment; the run may start before it is done.

    printed: list[str] = []

    class EventHandler(openai.AssistantEventHandler):
        def on_text_created(self, text: Any) -> None:
            printed.append("\nassistant > ")

        def on_tool_call_created(self, tool_call: Any) -> None:
            printed.append(f"\nassistant > {tool_call.type}\n")

        def on_message_done(self, message: Any) -> None:
            content = message.content[0].text
            citations = []
            for index, annotation in enumerate(content.annotations):
                content.value = content.value.replace(annotation.text, f"[{index}]")
                if file_citation := getattr(annotation, "file_citation", None):
                    cited_file = client.files.retrieve(file_citation.file_id)
                    citations.append(f"[{index}] {cited_file.filename}")
            printed.append(content.value)
            printed.append("\n".join(citations))

    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id,
        instructions="Please address the user as Jane Doe. The user has a premium account.",
        event_handler=EventHandler(),
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "completed", run.last_error
    assert "\nassistant > file_search\n" in printed
    assert ("There were 15,550,061,000 shares outstanding as of October 20, 2023[0]."
            in printed)
    assert "[0] aapl-10k.pdf" in printed
