"""Vector stores through the SDK: ingest by the ingest pool, hybrid search, statuses."""
import io
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

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


def wait_for(predicate: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


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
    fine = client.files.create(file=("fine.txt", io.BytesIO(NOTES)), purpose="assistants")
    batch = stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                file_ids=[corrupt.id, image.id, fine.id])
    assert batch.file_counts.failed == 2 and batch.file_counts.completed == 1
    failed = {f.id: f for f in stores.files.list(vector_store_id=store.id, filter="failed")}
    assert failed[corrupt.id].last_error.code == "invalid_file"
    assert failed[image.id].last_error.code == "unsupported_file"
    assert failed[corrupt.id].last_error.message
    assert search(client, store.id, query="ZX-4471")["data"][0]["file_id"] == fine.id


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
