"""The console's pages in a real browser: sign-in, assistants, files, vector stores, status,
and that nothing in any page or asset reaches outside the server's own origin."""
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import openai
from playwright.sync_api import expect

from tests.console.conftest import shot, sign_in
from tests.support.waiting import wait_for

STATIC = Path(__file__).resolve().parents[2] / "api" / "console" / "static"
NOTES = b"""Quarterly operations notes.
The warehouse in Rotterdam shipped 4,210 pallets in March.
Part number ZX-4471 was recalled because of a faulty hinge.
"""
POEM = b"Tulips and roses bloom along the river path in spring.\n"


def test_sign_in_reload_and_sign_out(page: Any, project_key: str) -> None:
    page.goto("/console/files")
    shot(page, "signin")
    sign_in(page, project_key)
    expect(page.get_by_test_id("nav-files")).to_have_class("active")
    assert page.evaluate("sessionStorage.getItem('treadle.key')") == project_key
    # A reload keeps both the page (a deep link) and the key.
    page.reload()
    expect(page.get_by_test_id("nav-files")).to_have_class("active")
    expect(page).to_have_url(re.compile(r"/console/files$"))
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("signin-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('treadle.key')") is None
    assert page.page_errors == []


def test_wrong_key_says_so(page: Any) -> None:
    page.goto("/console/assistants")
    sign_in(page, "sk-not-a-real-key-000000")
    message = page.get_by_test_id("error-message")
    expect(message).to_contain_text("This API key was refused")
    expect(message).to_contain_text("Incorrect API key provided")
    shot(page, "signin-wrong-key")
    assert page.evaluate("sessionStorage.getItem('treadle.key')") is None


def test_revoked_key_signs_out(console: Any) -> None:
    # The key changes under a signed-in tab and the next page opened is refused. The revoked key
    # is put in place as that page's document starts: set from the open tab, a request of the
    # assistants page answered 401 could sign that tab out (clearing the key) before the next
    # page loads, which would then show the sign-in form without the notice.
    console.add_init_script("sessionStorage.setItem('treadle.key', 'sk-revoked-0000000000')")
    console.goto("/console/files")
    expect(console.get_by_test_id("notice")).to_contain_text("Your key was refused")
    expect(console.get_by_test_id("signin-key")).to_be_visible()


def test_unknown_page_and_api_error_shown(console: Any) -> None:
    console.goto("/console/nowhere")
    expect(console.get_by_test_id("error-message")).to_contain_text("no console page")
    console.goto("/console/assistants/asst_doesnotexist")
    expect(console.get_by_test_id("error-message")).to_contain_text("No assistant found")
    shot(console, "error-not-found")


def test_assistant_create_edit_delete(console: Any, client: openai.OpenAI) -> None:
    file = client.files.create(file=("data.csv", io.BytesIO(b"a,b\n1,2\n")),
                               purpose="assistants")
    store = client.vector_stores.create(name="Manuals")
    console.get_by_test_id("new-assistant").click()
    expect(console).to_have_url(re.compile(r"/console/assistants/new$"))
    console.get_by_test_id("assistant-name").fill("Helper")
    console.get_by_test_id("assistant-instructions").fill("Answer briefly.")
    console.get_by_test_id("add-code_interpreter").click()
    console.get_by_test_id("add-file_search").click()
    console.get_by_test_id("add-function").click()
    console.get_by_test_id("function-name").fill("get_weather")
    console.get_by_test_id("function-description").fill("The weather in a city")
    console.get_by_test_id("function-parameters").fill(
        '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}')
    console.get_by_test_id("code-files-select").select_option(file.id)
    console.get_by_test_id("vector-store-ids-select").select_option(store.id)
    console.get_by_test_id("add-metadata").click()
    console.get_by_test_id("metadata-key").fill("team")
    console.get_by_test_id("metadata-value").fill("ops")
    shot(console, "assistant-new")
    console.get_by_test_id("assistant-save").click()
    expect(console.get_by_test_id("assistant-title")).to_have_text("Helper")
    assistant_id = console.url.rsplit("/", 1)[-1]
    made = client.beta.assistants.retrieve(assistant_id)
    assert made.instructions == "Answer briefly." and made.model == "gpt-4o"
    assert [tool.type for tool in made.tools] == ["code_interpreter", "file_search", "function"]
    assert made.tools[2].function.parameters["required"] == ["city"]
    assert made.tool_resources.code_interpreter.file_ids == [file.id]
    assert made.tool_resources.file_search.vector_store_ids == [store.id]
    assert made.metadata == {"team": "ops"}

    # A deep link after a reload shows the same assistant; an edit is saved.
    console.reload()
    console.get_by_test_id("assistant-instructions").fill("Answer at length.")
    console.get_by_test_id("function-parameters").fill("{not json")
    expect(console.get_by_text("Not valid JSON")).to_be_visible()
    console.get_by_test_id("assistant-save").click()
    expect(console.get_by_test_id("error-message")).to_contain_text("not valid JSON")
    console.get_by_test_id("function-parameters").fill('{"type": "object", "properties": {}}')
    console.get_by_test_id("assistant-save").click()
    expect(console.get_by_test_id("saved")).to_be_visible()
    assert client.beta.assistants.retrieve(assistant_id).instructions == "Answer at length."
    shot(console, "assistant")

    # The API's own message for a refused edit is shown as it is.
    console.get_by_test_id("assistant-model").fill("")
    console.get_by_test_id("assistant-save").click()
    expect(console.get_by_test_id("error-message")).to_contain_text("model")

    console.get_by_test_id("nav-assistants").click()
    expect(console.get_by_test_id("assistant-row")).to_have_count(1)
    expect(console.get_by_test_id("assistant-row")).to_contain_text("Helper")
    shot(console, "assistants")
    console.get_by_test_id("assistant-row").get_by_role("link").click()
    console.get_by_test_id("delete").click()
    console.get_by_test_id("delete-confirm").click()
    expect(console).to_have_url(re.compile(r"/console/assistants$"))
    expect(console.get_by_test_id("empty")).to_be_visible()
    assert console.page_errors == []


def test_list_pages_load_more(console: Any, client: openai.OpenAI) -> None:
    made = [client.beta.assistants.create(model="gpt-4o", name=f"a{i:02}").id for i in range(23)]
    console.reload()
    rows = console.get_by_test_id("assistant-row")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("a22")
    console.get_by_test_id("load-more").click()
    expect(rows).to_have_count(23)
    expect(console.get_by_test_id("load-more")).to_have_count(0)
    assert rows.last.locator("code").inner_text() == made[0]


def test_files_upload_download_delete(console: Any, client: openai.OpenAI,
                                      tmp_path: Path) -> None:
    upload = tmp_path / "report.txt"
    upload.write_bytes(b"quarterly report\n" * 200_000)
    console.get_by_test_id("nav-files").click()
    expect(console.get_by_test_id("empty")).to_be_visible()
    # A slow uplink, so the upload's progress bar can be seen moving.
    network = console.context.new_cdp_session(console)
    network.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 1024 * 1024})
    console.get_by_test_id("upload-input").set_input_files(str(upload))
    console.get_by_test_id("upload-purpose").select_option("user_data")
    console.get_by_test_id("upload-submit").click()
    progress = console.get_by_test_id("progress")
    expect(progress).to_contain_text("Uploading report.txt")
    expect(progress).to_have_attribute("aria-valuenow", re.compile(r"^[1-9][0-9]?$"))
    shot(console, "files-uploading")
    network.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    row = console.get_by_test_id("file-row")
    expect(row).to_contain_text("report.txt")
    expect(row).to_contain_text("user_data")
    [made] = list(client.files.list())
    assert made.filename == "report.txt" and made.bytes == upload.stat().st_size
    shot(console, "files")

    with console.expect_download() as download:
        row.get_by_test_id("download").click()
    saved = tmp_path / "downloaded.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "report.txt"
    assert saved.read_bytes() == upload.read_bytes()

    row.get_by_test_id("delete").click()
    row.get_by_test_id("delete-confirm").click()
    expect(console.get_by_test_id("empty")).to_be_visible()
    assert list(client.files.list()) == []


def test_vector_store_files_and_search(console: Any, client: openai.OpenAI,
                                       tmp_path: Path) -> None:
    console.get_by_test_id("nav-vector_stores").click()
    console.get_by_test_id("store-name").fill("Operations")
    console.get_by_test_id("store-create").click()
    expect(console.get_by_test_id("store-title")).to_have_text("Operations")
    store_id = console.url.rsplit("/", 1)[-1]

    # A file uploaded here, with attributes, with a progress bar on the way.
    notes = tmp_path / "notes.txt"
    notes.write_bytes(NOTES)
    console.get_by_test_id("add-attributes").fill('{"region": "emea", "year": 2024}')
    console.get_by_test_id("upload-input").set_input_files(str(notes))
    console.get_by_test_id("upload-submit").click()
    # One already uploaded, and one that cannot be indexed.
    poem = client.files.create(file=("garden.md", io.BytesIO(POEM)), purpose="assistants")
    blank = client.files.create(file=("blank.txt", io.BytesIO(b" \n\t\n ")), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store_id, file_id=blank.id)
    console.reload()
    console.get_by_test_id("add-attributes").fill("")
    console.get_by_test_id("add-existing").select_option(poem.id)
    console.get_by_test_id("add-existing-submit").click()

    rows = console.get_by_test_id("store-file-row")
    expect(rows).to_have_count(3)
    wait_for(lambda: client.vector_stores.retrieve(store_id).file_counts.in_progress == 0,
             what="the store's files indexed")
    failed = rows.filter(has_text=blank.id)
    expect(failed.get_by_test_id("status")).to_have_text("failed")
    expect(failed.get_by_test_id("last-error")).to_contain_text("invalid_file")
    expect(failed.get_by_test_id("last-error")).to_contain_text("No text")
    expect(rows.filter(has_text="notes.txt").get_by_test_id("status")).to_have_text("completed")
    expect(rows.filter(has_text="garden.md").get_by_test_id("status")).to_have_text("completed")

    console.get_by_test_id("search-query").fill("ZX-4471")
    console.get_by_test_id("search-submit").click()
    hit = console.get_by_test_id("search-hit").first
    expect(hit).to_contain_text("notes.txt")
    expect(hit).to_contain_text("ZX-4471")
    expect(hit.get_by_test_id("search-attributes")).to_contain_text('region="emea"')
    expect(hit.get_by_test_id("search-attributes")).to_contain_text("year=2024")
    score = float(hit.get_by_test_id("search-score").inner_text())
    assert 0 < score <= 1
    shot(console, "vector-store")

    # A refused search shows the API's message.
    console.get_by_text("Filters (JSON)").click()
    console.get_by_test_id("search-filters").fill('{"type": "like", "key": "a", "value": 1}')
    console.get_by_test_id("search-submit").click()
    expect(console.get_by_test_id("search").get_by_test_id("error")).to_be_visible()

    console.get_by_test_id("nav-vector_stores").click()
    expect(console.get_by_test_id("store-row")).to_contain_text("Operations")
    shot(console, "vector-stores")
    console.get_by_test_id("store-row").get_by_test_id("delete").click()
    console.get_by_test_id("store-row").get_by_test_id("delete-confirm").click()
    expect(console.get_by_test_id("empty")).to_be_visible()
    assert console.page_errors == []


def test_status_page(console: Any, client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed"
    console.get_by_test_id("nav-status").click()
    expect(console.get_by_test_id("runs-completed")).to_have_text("1")
    expect(console.get_by_test_id("services")).to_contain_text("postgres")
    expect(console.get_by_test_id("workers")).to_contain_text("@")
    expect(console.get_by_test_id("queues")).to_be_visible()
    shot(console, "status")
    # Refreshed without a reload: a second run appears.
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    expect(console.get_by_test_id("runs-completed")).to_have_text("2")


def test_vendored_files_match_their_sums() -> None:
    sums = (STATIC / "vendor" / "SHA256SUMS").read_text().split("\n")
    for line in filter(None, sums):
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest, name


OUTSIDE_URL = re.compile(rb"https?://[^\s\"'<>)`]+")
# URLs that appear in the assets as text, never loaded: each was read to be sure.
NOT_LOADED = {
    # XML namespace names in Preact's DOM code.
    b"http://www.w3.org/2000/svg", b"http://www.w3.org/1998/Math/MathML",
    b"http://www.w3.org/1999/xhtml",
    # highlight.js: in console.warn messages, and its stylesheet's credit comment.
    b"https://github.com/highlightjs/highlight.js/issues/2277",
    b"https://github.com/highlightjs/highlight.js/wiki/security",
    b"https://github.com/primer/github-syntax-light",
}


def test_no_outside_url_in_assets() -> None:
    found = []
    for path in sorted(STATIC.rglob("*")):
        # Licence texts are kept beside the vendored code and never loaded by the page.
        if path.is_file() and "LICENSE" not in path.name:
            found += [(str(path.relative_to(STATIC)), url)
                      for url in OUTSIDE_URL.findall(path.read_bytes()) if url not in NOT_LOADED]
    assert found == []


def test_no_outside_request_from_any_page(console: Any, client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="Visited")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    store = client.vector_stores.create(name="Visited")
    requested: list[str] = []
    console.on("request", lambda request: requested.append(request.url))
    pages = ["/console", "/console/assistants", f"/console/assistants/{assistant.id}",
             "/console/assistants/new", "/console/threads", f"/console/threads/{thread.id}",
             "/console/vector_stores", f"/console/vector_stores/{store.id}", "/console/files",
             "/console/status", "/docs"]
    for path in pages:
        console.goto(path)
        console.wait_for_load_state("networkidle")
    origin = console.base + "/"
    outside = [url for url in requested
               if not url.startswith(origin) and not url.startswith(("data:", "blob:"))]
    assert outside == []
    assert console.page_errors == []
    assert any("/console/static/vendor/preact.js" in url for url in requested)
    assert any(url.startswith(origin + "docs") for url in requested)
