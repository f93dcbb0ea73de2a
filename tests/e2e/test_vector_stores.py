"""Vector stores through the SDK: ingest by the ingest pool, hybrid search, statuses."""
import io
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import free_port, start_process, stop_processes, wait_until_healthy
from tests.e2e.test_spec_shapes import check
from tests.support import documents
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("workers")

NOTES = b"""Quarterly operations notes.
The warehouse in Rotterdam shipped 4,210 pallets in March.
Part number ZX-4471 was recalled because of a faulty hinge.
The finance team closed the books on the fifth business day.
"""
POEM = b"""# Garden
Tulips and roses bloom along the river path in spring.
The gardener waters the lavender every evening.
"""
LEDGER = b'{"account": "Northwind Traders", "balance_eur": 98231, "owner": "Ilse Marquardt"}'


@pytest.fixture
def stores(client: openai.OpenAI) -> Any:
    """`client.vector_stores` (openai 1.66+) or `client.beta.vector_stores` (up to 1.65)."""
    return getattr(client, "vector_stores", None) or client.beta.vector_stores


def search(client: openai.OpenAI, store_id: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.post(f"/vector_stores/{store_id}/search", body=body,
                                         cast_to=object)
    return result


def test_upload_and_poll_then_search(client: openai.OpenAI, stores: Any) -> None:
    store = stores.create(name="Ops", metadata={"team": "ops"})
    assert store.id.startswith("vs_") and store.object == "vector_store"
    assert store.status == "completed" and store.file_counts.total == 0
    batch = stores.file_batches.upload_and_poll(vector_store_id=store.id, files=[
        ("notes.txt", io.BytesIO(NOTES)), ("garden.md", io.BytesIO(POEM)),
        ("ledger.json", io.BytesIO(LEDGER))])
    assert batch.object == "vector_store.files_batch"
    assert batch.status == "completed"
    assert batch.file_counts.completed == 3 and batch.file_counts.in_progress == 0
    store = stores.retrieve(store.id)
    assert store.file_counts.completed == 3 and store.usage_bytes > 0
    listed = list(stores.files.list(vector_store_id=store.id))
    assert {f.status for f in listed} == {"completed"}
    assert all(f.chunking_strategy.type == "static" for f in listed)

    found = search(client, store.id, query="ZX-4471")
    assert found["object"] == "vector_store.search_results.page"
    assert found["search_query"] == ["ZX-4471"]
    assert found["data"][0]["filename"] == "notes.txt"
    assert "ZX-4471" in found["data"][0]["content"][0]["text"]
    assert 0 < found["data"][0]["score"] <= 1
    found = search(client, store.id, query=["lavender watering", "Northwind balance"],
                   max_num_results=2)
    assert {hit["filename"] for hit in found["data"]} == {"garden.md", "ledger.json"}


def test_attributes_filter_search(client: openai.OpenAI, stores: Any) -> None:
    store = stores.create(name="Filtered")
    made = {}
    for region, year in (("emea", 2023), ("apac", 2024), ("emea", 2024)):
        file = client.files.create(file=(f"{region}-{year}.txt", io.BytesIO(
            f"Revenue report for {region} in {year}: revenue grew.".encode())),
            purpose="assistants")
        stores.files.create(vector_store_id=store.id, file_id=file.id,
                            extra_body={"attributes": {"region": region, "year": year}})
        made[(region, year)] = file.id
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 3)
    found = search(client, store.id, query="revenue report", filters={
        "type": "and", "filters": [{"type": "eq", "key": "region", "value": "emea"},
                                   {"type": "gte", "key": "year", "value": 2024}]})
    assert [h["file_id"] for h in found["data"]] == [made[("emea", 2024)]]
    assert found["data"][0]["attributes"] == {"region": "emea", "year": 2024}
    with pytest.raises(openai.BadRequestError) as error:
        search(client, store.id, query="x", filters={"type": "like", "key": "a", "value": 1})
    assert error.value.body["param"].startswith("filters")


def test_hostile_files_fail_cleanly(client: openai.OpenAI, stores: Any) -> None:
    store = stores.create(name="Hostile")
    corrupt = client.files.create(file=("broken.pdf", io.BytesIO(b"%PDF-1.7\n1 0 obj <<")),
                                  purpose="assistants")
    image = client.files.create(file=("pixel.png", io.BytesIO(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)), purpose="assistants")
    blank = client.files.create(file=("blank.txt", io.BytesIO(b" \n\t\n  ")),
                                purpose="assistants")
    bomb = client.files.create(file=("bomb.docx", io.BytesIO(documents.zip_bomb_docx())),
                               purpose="assistants")
    fine = client.files.create(file=("fine.txt", io.BytesIO(NOTES)), purpose="assistants")
    batch = stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[corrupt.id, image.id, blank.id, bomb.id, fine.id])
    assert batch.file_counts.failed == 4 and batch.file_counts.completed == 1
    failed = {f.id: f for f in stores.files.list(vector_store_id=store.id, filter="failed")}
    assert failed[corrupt.id].last_error.code == "invalid_file"
    assert "PDF" in failed[corrupt.id].last_error.message
    assert failed[image.id].last_error.code == "unsupported_file"
    assert failed[blank.id].last_error.code == "invalid_file"
    assert "No text" in failed[blank.id].last_error.message
    assert failed[bomb.id].last_error.code == "invalid_file"
    assert "zip bomb" in failed[bomb.id].last_error.message
    assert search(client, store.id, query="ZX-4471")["data"][0]["file_id"] == fine.id
    # An empty upload never reaches a store: the upload itself is refused.
    with pytest.raises(openai.BadRequestError) as error:
        client.files.create(file=("empty.txt", io.BytesIO(b"")), purpose="assistants")
    assert error.value.code == "empty_file"
    # The worker lives on: a file added afterwards is indexed.
    later = client.files.create(file=("garden.md", io.BytesIO(POEM)), purpose="assistants")
    assert stores.files.create_and_poll(vector_store_id=store.id, file_id=later.id).status \
        == "completed"


@pytest.fixture(scope="module")
def roomy_api(server_env: dict[str, str], workers: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API process of its own taking uploads past the suite's 4 MB cap."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**server_env, "TREADLE_MAX_FILE_BYTES": str(16 * 1024 * 1024)}
    log = tmp_path_factory.mktemp("roomy") / "api.log"
    process = start_process(["api", "--port", str(port)], env, log)
    try:
        wait_until_healthy(base, process)
        yield base
    finally:
        stop_processes([process])


def test_five_megabyte_text_completes(roomy_api: str, api_key: str) -> None:
    client = openai.OpenAI(base_url=f"{roomy_api}/v1", api_key=api_key, max_retries=0)
    stores = getattr(client, "vector_stores", None) or client.beta.vector_stores
    text = documents.text_of_size(5 * 1024 * 1024).encode()
    big = client.files.create(file=("big.txt", io.BytesIO(text + NOTES)), purpose="assistants")
    store = stores.create(name="Big")
    file = stores.files.create_and_poll(vector_store_id=store.id, file_id=big.id,
                                        poll_interval_ms=200)
    assert file.status == "completed", file.last_error
    assert file.usage_bytes >= 5 * 1024 * 1024
    found = search(client, store.id, query="ZX-4471")["data"]
    assert any("ZX-4471" in hit["content"][0]["text"] for hit in found)


def test_remove_file_and_store(client: openai.OpenAI, stores: Any) -> None:
    file = client.files.create(file=("notes.txt", io.BytesIO(NOTES)), purpose="assistants")
    store = stores.create(name="Short-lived", file_ids=[file.id])
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 1)
    assert search(client, store.id, query="ZX-4471")["data"]
    removed = stores.files.delete(file_id=file.id, vector_store_id=store.id)
    assert removed.deleted and removed.object == "vector_store.file.deleted"
    assert list(stores.files.list(vector_store_id=store.id)) == []
    wait_for(lambda: not search(client, store.id, query="ZX-4471")["data"])
    assert client.files.retrieve(file.id).id == file.id
    again = client.files.create(file=("notes.txt", io.BytesIO(NOTES)), purpose="assistants")
    stores.files.create(vector_store_id=store.id, file_id=again.id)
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 1)
    client.files.delete(again.id)
    assert list(stores.files.list(vector_store_id=store.id)) == []
    wait_for(lambda: not search(client, store.id, query="ZX-4471")["data"])
    deleted = stores.delete(store.id)
    assert deleted.deleted and deleted.object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError):
        stores.retrieve(store.id)


def test_stores_paging_modify_and_isolation(client: openai.OpenAI, stores: Any,
                                            other_client: openai.OpenAI) -> None:
    ids = [stores.create(name=f"s{i}").id for i in range(5)]
    assert [s.id for s in stores.list(order="asc", limit=2)] == ids
    modified = stores.update(ids[0], name="renamed", metadata={"k": "v"},
                             expires_after={"anchor": "last_active_at", "days": 7})
    assert modified.name == "renamed" and modified.metadata == {"k": "v"}
    assert modified.expires_at == modified.last_active_at + 7 * 86400
    others = getattr(other_client, "vector_stores", None) or other_client.beta.vector_stores
    with pytest.raises(openai.NotFoundError):
        others.retrieve(ids[0])
    with pytest.raises(openai.BadRequestError):
        stores.create(chunking_strategy={"type": "static", "static": {
            "max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}})


def sdk_search(client: openai.OpenAI, stores: Any, store_id: str, **body: Any
               ) -> tuple[list[str], list[dict[str, Any]]]:
    """(search_query, hits) through `vector_stores.search` (openai 1.66+), else a raw POST
    (1.65.5 has no search method)."""
    if hasattr(stores, "search"):
        page = stores.search(store_id, **body)
        return page.search_query, [hit.model_dump() for hit in page.data]
    found = search(client, store_id, **body)
    return found["search_query"], found["data"]


def file_content(client: openai.OpenAI, stores: Any, store_id: str, file_id: str
                 ) -> dict[str, Any]:
    """The parsed content through `files.content` (openai 1.66+), else a raw GET."""
    if hasattr(stores.files, "content"):
        page = stores.files.content(file_id, vector_store_id=store_id)
        return {"object": page.object, "data": [part.model_dump() for part in page.data]}
    result: dict[str, Any] = client.get(
        f"/vector_stores/{store_id}/files/{file_id}/content", cast_to=object)
    return result


def test_file_content_is_the_parsed_text(client: openai.OpenAI, stores: Any) -> None:
    html = b"<html><body><h1>Recall notice</h1><p>Part \xe2\x80\x9cZX-4471\xe2\x80\x9d " \
           b"was recalled.</p><script>var x = 1;</script></body></html>"
    page = client.files.create(file=("notice.html", io.BytesIO(html)), purpose="assistants")
    notes = client.files.create(file=("notes.txt", io.BytesIO(NOTES)), purpose="assistants")
    store = stores.create(name="Content", file_ids=[page.id, notes.id])
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 2)
    content = file_content(client, stores, store.id, page.id)
    assert content["object"] == "vector_store.file_content.page"
    text = "".join(part["text"] for part in content["data"])
    assert "Recall notice" in text and "Part \u201cZX-4471\u201d was recalled." in text
    assert "var x" not in text
    assert [p["type"] for p in content["data"]] == ["text"]
    notes_text = file_content(client, stores, store.id, notes.id)["data"][0]["text"]
    assert notes_text == NOTES.decode().strip()
    raw = client.get(f"/vector_stores/{store.id}/files/{notes.id}/content", cast_to=object)
    assert raw["has_more"] is False and raw["next_page"] is None
    check(raw, "VectorStoreFileContentResponse")

    failed = client.files.create(file=("pixel.png", io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 9)),
                                 purpose="assistants")
    stores.files.create_and_poll(vector_store_id=store.id, file_id=failed.id)
    assert file_content(client, stores, store.id, failed.id)["data"] == []
    stores.files.delete(file_id=notes.id, vector_store_id=store.id)
    with pytest.raises(openai.NotFoundError):
        file_content(client, stores, store.id, notes.id)
    with pytest.raises(openai.NotFoundError):
        file_content(client, stores, "vs_abc123abc123abc123abc123", page.id)


def test_search_rewrite_query(client: openai.OpenAI, stores: Any, model_server: Any) -> None:
    notes = client.files.create(file=("notes.txt", io.BytesIO(NOTES)), purpose="assistants")
    poem = client.files.create(file=("garden.md", io.BytesIO(POEM)), purpose="assistants")
    store = stores.create(name="Rewrite", file_ids=[notes.id, poem.id])
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 2)
    # The test model answers the rewrite request with the text the SCRIPT line names.
    question = 'which hinge part was pulled back?\nSCRIPT: {"text": "ZX-4471 recall hinge"}'
    queries, hits = sdk_search(client, stores, store.id, query=question, rewrite_query=True)
    assert queries == ["ZX-4471 recall hinge"]
    assert hits[0]["file_id"] == notes.id
    queries, _ = sdk_search(client, stores, store.id, query=["lavender", "tulips"],
                            rewrite_query=True)
    assert queries == ["You said: lavender", "You said: tulips"]
    queries, _ = sdk_search(client, stores, store.id, query=question)
    assert queries == [question]
    check(search(client, store.id, query=question, rewrite_query=True),
          "VectorStoreSearchResultsPage")
    failing = 'x\nSCRIPT: {"status": 400, "error_message": "no such model"}'
    with pytest.raises(openai.InternalServerError) as error:
        sdk_search(client, stores, store.id, query=failing, rewrite_query=True)
    assert "no such model" in error.value.body["message"]
    rewrites = [r for r in model_server.requests() if r["path"].endswith("chat/completions")
                and r["body"]["messages"][-1]["content"] == failing]
    assert rewrites and rewrites[0]["body"]["messages"][0]["role"] == "system"
    assert rewrites[0]["body"]["model"] == "gpt-4o-mini"  # TREADLE_QUERY_REWRITE_MODEL


def test_expired_store_stays_expired(client: openai.OpenAI, stores: Any,
                                     database_url: str) -> None:
    import psycopg

    store = stores.create(name="Brief", expires_after={"anchor": "last_active_at", "days": 1})
    assert store.status == "completed" and store.expires_at == store.last_active_at + 86400
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE vector_stores SET last_active_at = last_active_at - 2 * 86400 "
                     "WHERE id = %s", (store.id,))
    assert stores.retrieve(store.id).status == "expired"
    with pytest.raises(openai.BadRequestError) as error:
        search(client, store.id, query="anything")
    assert "expired" in error.value.body["message"]
    assert stores.retrieve(store.id).status == "expired"


def update_attributes(client: openai.OpenAI, stores: Any, store_id: str, file_id: str,
                      attributes: dict[str, Any]) -> dict[str, Any]:
    """`files.update` (openai 1.66+), else a raw POST (1.65.5 has no attributes)."""
    if hasattr(stores.files, "update"):
        return dict(stores.files.update(file_id, vector_store_id=store_id,
                                        attributes=attributes).model_dump())
    result: dict[str, Any] = client.post(f"/vector_stores/{store_id}/files/{file_id}",
                                         body={"attributes": attributes}, cast_to=object)
    return result


def eq(key: str, value: Any) -> dict[str, Any]:
    return {"type": "eq", "key": key, "value": value}


def test_new_attributes_keep_the_file_completed_and_found(client: openai.OpenAI,
                                                          stores: Any) -> None:
    notes = client.files.create(file=("notes.txt", io.BytesIO(NOTES)), purpose="assistants")
    store = stores.create(name="Attributes")
    stores.files.create(vector_store_id=store.id, file_id=notes.id,
                        extra_body={"attributes": {"region": "emea", "year": 2024}})
    wait_for(lambda: stores.retrieve(store.id).file_counts.completed == 1)
    assert [h["file_id"] for h in search(client, store.id, query="ZX-4471",
                                         filters=eq("region", "emea"))["data"]] == [notes.id]

    updated = update_attributes(client, stores, store.id, notes.id,
                                {"region": "apac", "year": 2024})
    assert updated["status"] == "completed"
    assert updated["attributes"] == {"region": "apac", "year": 2024}
    # While the update lands, and a while after: never re-indexed (in_progress, no content,
    # missing from searches), only its attributes change.
    deadline, landed_at = time.monotonic() + 60, None
    while landed_at is None or time.monotonic() < landed_at + 1:
        assert time.monotonic() < deadline, "the new attributes never reached the chunks"
        assert stores.files.retrieve(notes.id, vector_store_id=store.id).status == "completed"
        content = file_content(client, stores, store.id, notes.id)["data"]
        assert content and "ZX-4471" in content[0]["text"]
        assert [h["file_id"] for h in search(client, store.id, query="ZX-4471")["data"]] \
            == [notes.id]
        found = search(client, store.id, query="ZX-4471", filters=eq("region", "apac"))
        if found["data"] and landed_at is None:
            landed_at = time.monotonic()
            assert found["data"][0]["attributes"] == {"region": "apac", "year": 2024}
    assert not search(client, store.id, query="ZX-4471", filters=eq("region", "emea"))["data"]
    assert search(client, store.id, query="ZX-4471", filters={"type": "and", "filters": [
        eq("region", "apac"), eq("year", 2024)]})["data"][0]["file_id"] == notes.id
    assert stores.retrieve(store.id).file_counts.completed == 1


def test_attributes_updated_while_indexing_reach_the_chunks(client: openai.OpenAI,
                                                            stores: Any) -> None:
    text = documents.text_of_size(300 * 1024).encode() + NOTES
    big = client.files.create(file=("big.txt", io.BytesIO(text)), purpose="assistants")
    store = stores.create(name="Attributes while indexing")
    stores.files.create(vector_store_id=store.id, file_id=big.id,
                        extra_body={"attributes": {"stage": "draft"}})
    # Usually lands while the 300 KB file is still indexing; if the ingest won the race,
    # the update takes the completed path, and the chunks must say "final" all the same.
    update_attributes(client, stores, store.id, big.id, {"stage": "final"})
    wait_for(lambda: stores.files.retrieve(big.id, vector_store_id=store.id).status
             == "completed")
    wait_for(lambda: search(client, store.id, query="ZX-4471",
                            filters=eq("stage", "final"))["data"])
    assert not search(client, store.id, query="ZX-4471", filters=eq("stage", "draft"))["data"]
    hits = search(client, store.id, query="ZX-4471 hinge", max_num_results=50)["data"]
    assert hits and all(h["attributes"] == {"stage": "final"} for h in hits)
