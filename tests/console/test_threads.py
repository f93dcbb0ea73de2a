"""The threads pages in a real browser: streamed runs arriving token by token, a function call
answered through its form, a code_interpreter run's image, a file_search run's citation, a
cancelled run, a reload mid-run and a dropped stream resumed with Last-Event-ID."""
import io
import json
from pathlib import Path
from typing import Any

import openai
from playwright.sync_api import expect

from tests.console.conftest import shot
from tests.e2e.scripts import WEATHER_TOOL, script, sent
from tests.support.waiting import wait_for

SALES = b"""month,units,revenue
2024-01,120,2400
2024-02,135,2750
2024-03,160,3300
2024-04,150,3100
"""
CHART_CODE = """import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
df = pd.read_csv("/mnt/data/sales.csv")
figure, axes = plt.subplots()
axes.plot(df["month"], df["revenue"])
axes.set_title("revenue")
df.describe().to_csv("/mnt/data/summary.csv")
print("total revenue", df["revenue"].sum())
"""
MANUAL = b"""Maintenance manual for the Kestrel pump.
The service code for a blocked impeller is QV-7731. Replace the seal every 400 hours.
"""
MENU = b"""Cafeteria menu. Monday: lentil soup. Tuesday: grilled trout with dill potatoes.
"""


def steps_script(steps: list[dict[str, Any]], marker: str) -> str:
    return f"{marker}\nSCRIPT: " + json.dumps({"steps": steps})


def open_thread(console: Any, thread_id: str) -> None:
    console.goto(f"/console/threads/{thread_id}")
    console.get_by_test_id("thread-page").wait_for()


def run_card(console: Any, run_id: str) -> Any:
    return console.locator(f"[data-testid=run][data-run-id='{run_id}']")


def only_run(client: openai.OpenAI, thread_id: str) -> Any:
    [run] = client.beta.threads.runs.list(thread_id=thread_id).data
    return run


def test_threads_list_newest_first_and_create(console: Any, client: openai.OpenAI) -> None:
    older = client.beta.threads.create(metadata={"team": "ops"})
    newer = client.beta.threads.create()
    console.get_by_test_id("nav-threads").click()
    rows = console.get_by_test_id("thread-row")
    expect(rows).to_have_count(2)
    assert rows.nth(0).get_attribute("data-thread-id") == newer.id
    assert rows.nth(1).get_attribute("data-thread-id") == older.id
    expect(rows.nth(1)).to_contain_text("team=ops")
    shot(console, "threads")

    console.get_by_test_id("thread-metadata").fill("not a pair")
    console.get_by_test_id("thread-create").click()
    expect(console.get_by_test_id("error-message")).to_contain_text("key=value")
    console.get_by_test_id("thread-metadata").fill("case=new")
    console.get_by_test_id("thread-create").click()
    console.get_by_test_id("thread-page").wait_for()
    created = console.get_by_test_id("thread-page").get_attribute("data-thread-id")
    assert client.beta.threads.retrieve(created).metadata == {"case": "new"}
    console.go_back()
    expect(console.get_by_test_id("thread-row")).to_have_count(3)
    # An API error shows its message.
    console.get_by_test_id("thread-open-id").fill("thread_missing")
    console.get_by_test_id("thread-open").click()
    expect(console.get_by_test_id("error-message")).to_have_text(
        "No thread found with id 'thread_missing'.")
    shot(console, "thread-not-found")
    assert console.page_errors == []


def test_streamed_run_text_arrives(console: Any, client: openai.OpenAI) -> None:
    client.beta.assistants.create(name="Streamer", model="test-model")
    thread = client.beta.threads.create()
    open_thread(console, thread.id)
    console.get_by_test_id("playground-message").fill(
        script(tokens=40, chunk_delay_ms=60))
    console.get_by_test_id("playground-run").click()

    # The answer shows while it is being written, before the run has ended.
    writing = console.locator("[data-testid=message][data-role=assistant]"
                              "[data-status=in_progress]")
    expect(writing).to_contain_text("tok3")
    expect(console.get_by_test_id("run-live")).to_be_visible()
    shot(console, "thread-streaming")
    run = only_run(client, thread.id)
    card = run_card(console, run.id)
    expect(card).to_have_attribute("data-status", "completed")
    answer = " ".join(f"tok{i}" for i in range(40))
    reply = console.locator("[data-testid=message][data-role=assistant]")
    expect(reply.get_by_test_id("message-text")).to_have_text(answer)
    expect(card.get_by_test_id("run-usage")).to_contain_text("tokens")
    expect(card.get_by_test_id("run-model")).to_have_text("test-model")
    expect(card.get_by_test_id("run-step")).to_have_count(1)
    shot(console, "thread-streamed")
    stored = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert stored.content[0].text.value == answer
    assert console.page_errors == []


def test_function_calls_answered_through_their_forms(console: Any, client: openai.OpenAI,
                                                     model_server: Any) -> None:
    """Two calls at once: a form each; the outputs go together once both are answered."""
    client.beta.assistants.create(name="Weather", model="test-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create()
    marker = "case-console-weather"
    open_thread(console, thread.id)
    console.get_by_test_id("playground-message").fill(steps_script([
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                        {"name": "get_weather", "arguments": {"city": "Lima"}}]},
        {"text": "Sunny in Oslo, foggy in Lima."}], marker))
    console.get_by_test_id("playground-run").click()

    forms = console.get_by_test_id("tool-output-form")
    expect(forms).to_have_count(2)
    expect(forms.nth(0).get_by_test_id("tool-call-arguments")).to_contain_text('"city": "Oslo"')
    expect(forms.nth(1).get_by_test_id("tool-call-arguments")).to_contain_text('"city": "Lima"')
    run = only_run(client, thread.id)
    card = run_card(console, run.id)
    expect(card).to_have_attribute("data-status", "requires_action")
    forms.nth(0).get_by_test_id("tool-output").fill('{"sky": "sunny", "celsius": 21}')
    forms.nth(0).get_by_test_id("tool-output-submit").click()
    expect(forms.nth(0).get_by_test_id("tool-output-submit")).to_be_disabled()
    shot(console, "thread-requires-action")
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == \
        "requires_action"
    forms.nth(1).get_by_test_id("tool-output").fill('{"sky": "fog", "celsius": 17}')
    forms.nth(1).get_by_test_id("tool-output-submit").click()

    expect(card).to_have_attribute("data-status", "completed")
    expect(console.locator("[data-testid=message][data-role=assistant]")).to_contain_text(
        "Sunny in Oslo, foggy in Lima.")
    calls = card.get_by_test_id("function-call")
    expect(calls.get_by_test_id("function-arguments")).to_contain_text(
        ['"city": "Oslo"', '"city": "Lima"'])
    expect(calls.get_by_test_id("function-output")).to_contain_text(
        ['"celsius": 21', '"celsius": 17'])
    shot(console, "thread-function-answered")
    answered = sent(model_server, marker)[-1]["body"]["messages"][-2:]
    assert [m["role"] for m in answered] == ["tool", "tool"]
    assert [m["content"] for m in answered] == ['{"sky": "sunny", "celsius": 21}',
                                                '{"sky": "fog", "celsius": 17}']
    assert console.page_errors == []


def test_code_interpreter_run_shows_code_logs_and_image(console: Any, client: openai.OpenAI,
                                                        tmp_path: Path) -> None:
    """A CSV attached in the playground goes to the sandbox; the chart the code draws shows in
    the step and in the answer, live and again when the run is opened later."""
    client.beta.assistants.create(name="Charts", model="test-model",
                                  tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create()
    sales = tmp_path / "sales.csv"
    sales.write_bytes(SALES)
    open_thread(console, thread.id)
    console.get_by_test_id("playground-message").fill(steps_script([
        {"tool_calls": [{"name": "code_interpreter", "arguments": {"code": CHART_CODE}}],
         "chunk_delay_ms": 20},
        {"text": "Here is the chart; the summary is at sandbox:/mnt/data/summary.csv."}],
        "case-console-chart"))
    console.get_by_test_id("playground-files").set_input_files(str(sales))
    attachment = console.get_by_test_id("playground-attachment")
    expect(attachment.get_by_test_id("attachment-code_interpreter")).to_be_checked()
    console.get_by_test_id("playground-run").click()

    run = wait_for(lambda: next(iter(client.beta.threads.runs.list(thread_id=thread.id).data),
                                None), what="the run to be created")
    card = run_card(console, run.id)
    expect(card).to_have_attribute("data-status", "completed")
    expect(console.get_by_test_id("message-attachments")).to_contain_text("sales.csv")
    for opened in ("live", "reloaded"):
        if opened == "reloaded":
            console.reload()
        code = card.get_by_test_id("code-input")
        expect(code).to_have_attribute("data-highlighted", "true")
        expect(code.locator(".hljs-keyword").first).to_be_visible()
        expect(code).to_contain_text('pd.read_csv("/mnt/data/sales.csv")')
        expect(card.get_by_test_id("code-logs")).to_contain_text("total revenue 11550")
        image = card.get_by_test_id("code-image")
        expect(image).to_be_visible()
        console.wait_for_function("img => img.complete && img.naturalWidth > 100",
                                  arg=image.element_handle())
        # The image drawn is also in the answer, inline.
        answer = console.locator("[data-testid=message][data-role=assistant]")
        expect(answer.get_by_test_id("message-image")).to_be_visible()
        # The sandbox path in the text links to the file the code wrote.
        expect(answer.get_by_test_id("message-text")).to_have_text(
            "Here is the chart; the summary is at summary.csv.")
        expect(answer.get_by_test_id("file-path-link")).to_have_text("summary.csv")
    shot(console, "thread-code-interpreter")
    with console.expect_download() as downloading:
        answer.get_by_test_id("file-path-link").click()
    assert downloading.value.suggested_filename == "summary.csv"
    with open(downloading.value.path(), "rb") as saved:
        assert b"revenue" in saved.read()
    assert console.page_errors == []


def test_file_search_run_shows_citation_results_and_scores(console: Any,
                                                           client: openai.OpenAI) -> None:
    stores = getattr(client, "vector_stores", None) or client.beta.vector_stores
    store = stores.create(name="Manuals")
    batch = stores.file_batches.upload_and_poll(vector_store_id=store.id, files=[
        ("kestrel.txt", io.BytesIO(MANUAL)), ("menu.txt", io.BytesIO(MENU))])
    assert batch.file_counts.completed == 2
    assistant = client.beta.assistants.create(
        model="test-model", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    answer = "Use service code QV-7731【0:0†kestrel.txt】 for a blocked impeller."
    thread = client.beta.threads.create(messages=[{"role": "user", "content": steps_script([
        {"tool_calls": [{"name": "file_search",
                         "arguments": {"query": "service code QV-7731 blocked impeller"}}]},
        {"text": answer}], "case-console-cite")}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    open_thread(console, thread.id)
    reply = console.locator("[data-testid=message][data-role=assistant]")
    citation = reply.get_by_test_id("citation")
    expect(citation).to_have_count(1)
    expect(citation.get_by_test_id("citation-file")).to_have_text("kestrel.txt")
    expect(reply.get_by_test_id("citation-mark")).to_have_text("[1]")
    # The marker itself is replaced by the link to the cited file.
    expect(reply.get_by_test_id("message-text")).not_to_contain_text("†")
    card = run_card(console, run.id)
    results = card.get_by_test_id("search-result")
    expect(results.first.get_by_test_id("search-result-file")).to_have_text("kestrel.txt")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    scores = [r.score for r in steps[0].step_details.tool_calls[0].file_search.results]
    expect(results).to_have_count(len(scores))
    expect(results.get_by_test_id("search-score")).to_have_text(
        [f"score {score:.4f}" for score in scores])
    expect(results.first).to_contain_text("QV-7731")
    expect(card.get_by_test_id("search-query")).to_have_text(
        "service code QV-7731 blocked impeller")
    shot(console, "thread-file-search")
    with console.expect_download() as downloading:
        citation.get_by_test_id("citation-file").click()
    download = downloading.value
    assert download.suggested_filename == "kestrel.txt"
    with open(download.path(), "rb") as saved:
        assert saved.read() == MANUAL
    assert console.page_errors == []


def test_cancel_a_run(console: Any, client: openai.OpenAI) -> None:
    client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create()
    open_thread(console, thread.id)
    console.get_by_test_id("playground-message").fill(script(hang=True, chunk_delay_ms=100))
    console.get_by_test_id("playground-run").click()
    expect(console.locator("[data-testid=message][data-role=assistant]")).to_contain_text(
        "You said")
    run = only_run(client, thread.id)
    card = run_card(console, run.id)
    card.get_by_test_id("run-cancel").click()
    expect(card).to_have_attribute("data-status", "cancelled")
    expect(card.get_by_test_id("run-cancel")).to_have_count(0)
    expect(console.get_by_test_id("playground-run")).to_be_enabled()
    shot(console, "thread-cancelled")
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "cancelled"
    assert console.page_errors == []


def test_reload_mid_run_keeps_the_page_and_follows_on(console: Any,
                                                      client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=60, chunk_delay_ms=80)}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    open_thread(console, thread.id)
    writing = console.locator("[data-testid=message][data-role=assistant]"
                              "[data-status=in_progress]")
    expect(writing).to_contain_text("tok2")
    console.reload()
    expect(console.get_by_test_id("thread-page")).to_be_visible()
    card = run_card(console, run.id)
    expect(card).to_have_attribute("data-status", "completed")
    answer = " ".join(f"tok{i}" for i in range(60))
    expect(console.locator("[data-testid=message][data-role=assistant]")
           .get_by_test_id("message-text")).to_have_text(answer)
    assert console.page_errors == []


def test_dropped_stream_resumes_after_the_last_event(console: Any,
                                                     client: openai.OpenAI) -> None:
    """The first connection to the run's events ends after a few of them, as a dropped one
    does: the page asks again with Last-Event-ID and shows each token once."""
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": script(
        tokens=30, chunk_delay_ms=50)}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    asked: list[str | None] = []
    kept: list[str] = []

    def cut_first(route: Any) -> None:
        asked.append(route.request.headers.get("last-event-id"))
        if len(asked) > 1:
            route.continue_()
            return
        response = route.fetch()
        events = response.text().split("\n\n")
        deltas = [i for i, event in enumerate(events) if "thread.message.delta" in event]
        # Up to the fifth token, then the connection "drops": no done, no terminal event.
        head = "\n\n".join(events[:deltas[4] + 1]) + "\n\n"
        kept.append(next(line for line in events[deltas[4]].splitlines()
                         if line.startswith("id: "))[4:])
        route.fulfill(response=response, body=head)

    console.route(f"**/v1/threads/{thread.id}/runs/{run.id}/events", cut_first)
    open_thread(console, thread.id)
    card = run_card(console, run.id)
    expect(card).to_have_attribute("data-status", "completed")
    answer = " ".join(f"tok{i}" for i in range(30))
    expect(console.locator("[data-testid=message][data-role=assistant]")
           .get_by_test_id("message-text")).to_have_text(answer)
    assert asked[0] is None
    assert asked[1] == kept[0]
    shot(console, "thread-resumed")
    assert console.page_errors == []


def test_sse_parser_follows_the_event_stream_format(page: Any, api_base: str) -> None:
    """lib/stream.js's parser, fed in awkward pieces in the browser itself."""
    page.goto("/console/")
    events = page.evaluate("""async () => {
      const { SseParser } = await import('/console/static/lib/stream.js');
      const parser = new SseParser();
      const pieces = ['\\ufeffid: 1-0\\nevent: thread.message.delta\\ndata: {"a":', '1}\\n\\n',
        ': keep-alive\\n', 'data: line one\\r', '\\ndata: line two\\r\\n\\r\\n',
        'event: empty\\n\\n', 'id: 2-0\\ndata:no space\\rretry: 50\\r\\r',
        'data: unfinished'];
      const seen = [];
      for (const piece of pieces) seen.push(...parser.feed(piece));
      // A stream's last CR ends its line even with no LF to follow.
      const last = new SseParser();
      const ending = [...last.feed('data: last\\r\\r'), ...last.end()];
      return { seen, retry: parser.retry, ending };
    }""")
    assert events["seen"] == [
        {"id": "1-0", "event": "thread.message.delta", "data": '{"a":1}'},
        {"id": "1-0", "event": "message", "data": "line one\nline two"},
        {"id": "2-0", "event": "message", "data": "no space"},
    ]
    assert events["retry"] == 50
    assert events["ending"] == [{"id": "", "event": "message", "data": "last"}]


def test_run_started_elsewhere_appears_and_goes_live(console: Any,
                                                     client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create()
    open_thread(console, thread.id)
    expect(console.get_by_test_id("run")).to_have_count(0)
    client.beta.threads.messages.create(thread.id, role="user",
                                        content=script(tokens=50, chunk_delay_ms=80))
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    card = run_card(console, run.id)
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-status", "completed")
    answer = " ".join(f"tok{i}" for i in range(50))
    expect(console.locator("[data-testid=message][data-role=assistant]")
           .get_by_test_id("message-text")).to_have_text(answer)
    assert console.page_errors == []


def test_unknown_content_shows_as_raw_json(page: Any, api_base: str) -> None:
    """lib/content.js draws what it knows and shows any other part as it came."""
    page.goto("/console/")
    drawn = page.evaluate("""async () => {
      const { render, h } = await import('preact');
      const { MessageContent } = await import('/console/static/lib/content.js');
      const box = document.createElement('div');
      document.body.append(box);
      render(h(MessageContent, { content: [
        { type: 'text', text: { value: 'Plain words', annotations: [] } },
        { type: 'hologram', hologram: { frames: 3 } },
      ] }), box);
      return {
        text: box.querySelector('[data-testid=message-text]').textContent,
        raw: box.querySelector('[data-testid=raw-part]').textContent,
      };
    }""")
    assert drawn["text"] == "Plain words"
    assert "hologram" in drawn["raw"] and '"frames": 3' in drawn["raw"]
