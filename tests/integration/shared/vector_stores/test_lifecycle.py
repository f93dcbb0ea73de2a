"""The status changes of vector store files and batches (`shared.vector_stores.lifecycle`)
against real Postgres: each a compare-and-set, a stale generation refused, batch counts
settled from the files' rows; and new attributes, which move no file
(`shared.vector_stores.files.apply_attributes`)."""
import io
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from shared.files import service as file_service
from shared.files.blobs import get_blob_store
from shared.projects.api_keys import ensure_project
from shared.storage import repository as tables
from shared.storage.db import unit_of_work
from shared.vector_stores import files, lifecycle
from shared.vector_stores.files import AUTO_CHUNKING

SERVER_ERROR = {"code": "server_error", "message": "The file could not be indexed."}


@dataclass
class Store:
    project_id: str
    id: str

    def new_file(self) -> str:
        stored = file_service.create_file(self.project_id, io.BytesIO(b"some text"),
                                          "notes.txt", "assistants")
        return str(stored["id"])

    def submit(self, file_id: str, batch_id: str | None = None,
               attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        with unit_of_work() as conn:
            return lifecycle.submit(conn, self.project_id, self.id, file_id, AUTO_CHUNKING,
                                    attributes or {}, batch_id)

    def new_batch(self) -> str:
        with unit_of_work() as conn:
            return str(tables.insert(conn, tables.FILE_BATCHES, {
                "project_id": self.project_id, "vector_store_id": self.id,
                "created_at": 1_700_000_000})["id"])

    def row(self, file_id: str) -> dict[str, Any]:
        with unit_of_work() as conn:
            return tables.get(conn, tables.VECTOR_STORE_FILES,
                              {"project_id": self.project_id, "vector_store_id": self.id},
                              file_id, "file_id")

    def batch(self, batch_id: str) -> dict[str, Any]:
        with unit_of_work() as conn:
            row = tables.get(conn, tables.FILE_BATCHES, {"project_id": self.project_id},
                             batch_id, "batch_id")
            return lifecycle.settle_batches(conn, [row])[0]


@pytest.fixture
def store(database_url: str) -> Store:
    project_id = ensure_project(f"lifecycle-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        row = tables.insert(conn, tables.VECTOR_STORES, {
            "project_id": project_id, "created_at": 1_700_000_000, "name": "s"})
    return Store(project_id, row["id"])


def counts(**given: int) -> dict[str, int]:
    statuses = ("in_progress", "completed", "failed", "cancelled")
    return {**{s: given.get(s, 0) for s in statuses}, "total": sum(given.values())}


def test_submit_starts_and_restarts_on_a_new_generation(store: Store) -> None:
    file_id = store.new_file()
    first = store.submit(file_id, attributes={"year": 2024})
    assert (first["status"], first["generation"], first["attributes"]) == (
        "in_progress", 1, {"year": 2024})
    assert lifecycle.fail(store.id, file_id, 1, SERVER_ERROR)
    again = store.submit(file_id, attributes={"year": 2025})
    assert (again["status"], again["generation"], again["attributes"]) == (
        "in_progress", 2, {"year": 2025})
    assert again["last_error"] is None and again["usage_bytes"] == 0
    # Put in again while still indexing: the newer generation is the one that counts.
    assert store.submit(file_id)["generation"] == 3


def test_complete_refuses_a_stale_generation(store: Store) -> None:
    file_id = store.new_file()
    store.submit(file_id)
    store.submit(file_id)
    assert not lifecycle.complete(store.id, file_id, 1, "stale")
    assert store.row(file_id)["status"] == "in_progress"
    assert lifecycle.complete(store.id, file_id, 2, "héllo")
    row = store.row(file_id)
    assert (row["status"], row["usage_bytes"], row["last_error"]) == ("completed", 6, None)
    parsed = b"".join(get_blob_store().read(lifecycle.parsed_text_key(store.id, file_id)))
    assert parsed == "héllo".encode()
    # completed -> completed or failed is no move: a task run twice changes nothing.
    assert not lifecycle.complete(store.id, file_id, 2, "twice")
    assert not lifecycle.fail(store.id, file_id, 2, SERVER_ERROR)
    assert store.row(file_id)["status"] == "completed"


def test_fail_records_last_error(store: Store) -> None:
    file_id = store.new_file()
    store.submit(file_id)
    assert lifecycle.fail(store.id, file_id, 1, SERVER_ERROR)
    row = store.row(file_id)
    assert (row["status"], row["last_error"], row["usage_bytes"]) == (
        "failed", SERVER_ERROR, 0)
    assert not lifecycle.complete(store.id, file_id, 1, "late")


def test_begin_ingest_only_for_the_current_generation_in_progress(store: Store) -> None:
    file_id = store.new_file()
    store.submit(file_id)
    store.submit(file_id)
    assert lifecycle.begin_ingest(store.id, file_id, 1) is None
    row = lifecycle.begin_ingest(store.id, file_id, 2)
    assert row is not None and row["filename"] == "notes.txt"
    assert lifecycle.complete(store.id, file_id, 2, "text")
    assert lifecycle.begin_ingest(store.id, file_id, 2) is None


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The refresh tasks attribute updates send (to no worker)."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr("shared.platform.tasks.send_refresh_attributes",
                        lambda *args: sent.append(args))
    return sent


def test_new_attributes_move_no_file(store: Store, refreshes: list[tuple[str, str]]) -> None:
    done, indexing = store.new_file(), store.new_file()
    store.submit(done, attributes={"year": 2024})
    store.submit(indexing, attributes={"year": 2024})
    assert lifecycle.complete(store.id, done, 1, "text")
    row = files.update_file_attributes(store.project_id, store.id, done, {"year": 2025})
    assert (row["status"], row["generation"], row["attributes"]) == (
        "completed", 1, {"year": 2025})
    assert store.row(done)["status"] == "completed"
    assert refreshes == [(store.id, done)]
    # In progress: its ingest writes the new attributes itself (`apply_attributes` once
    # completed), so no refresh is sent.
    row = files.update_file_attributes(store.project_id, store.id, indexing, {"year": 2025})
    assert (row["status"], row["generation"]) == ("in_progress", 1)
    assert refreshes == [(store.id, done)]


def test_apply_attributes_only_to_a_completed_file(store: Store) -> None:
    file_id = store.new_file()
    store.submit(file_id, attributes={"year": 2024})
    written: list[dict[str, Any]] = []
    assert not files.apply_attributes(store.id, file_id, written.append)
    assert lifecycle.complete(store.id, file_id, 1, "text")
    assert files.apply_attributes(store.id, file_id, written.append)
    assert written == [{"year": 2024}]
    # The ingest of a generation writes only for that generation, and only attributes its
    # chunks do not carry already.
    assert not files.apply_attributes(store.id, file_id, written.append, generation=2)
    assert not files.apply_attributes(store.id, file_id, written.append, generation=1,
                                      written={"year": 2024})
    assert files.apply_attributes(store.id, file_id, written.append, generation=1,
                                  written={"year": 2023})
    assert written == [{"year": 2024}] * 2
    assert store.row(file_id)["status"] == "completed"
    store.submit(file_id)  # added again: in progress, its ingest writes its attributes
    assert not files.apply_attributes(store.id, file_id, written.append)
    with unit_of_work() as conn:
        tables.delete(conn, tables.VECTOR_STORE_FILES, {"vector_store_id": store.id},
                      file_id, "file_id")
    assert not files.apply_attributes(store.id, file_id, written.append)
    assert len(written) == 2


def test_attributes_updated_while_indexing_are_written_once_completed(
        store: Store, refreshes: list[tuple[str, str]]) -> None:
    """The ingest pool's sequence (workers/ingest/tasks.py, ingest_file): its chunks carry
    the attributes its row held when it began; an update meanwhile sends no refresh, and
    the ingest writes the new attributes once the file is completed."""
    file_id = store.new_file()
    store.submit(file_id, attributes={"year": 2024})
    began = lifecycle.begin_ingest(store.id, file_id, 1)
    assert began is not None and began["attributes"] == {"year": 2024}
    files.update_file_attributes(store.project_id, store.id, file_id, {"year": 2025})
    assert refreshes == []
    assert lifecycle.complete(store.id, file_id, 1, "text")
    written: list[dict[str, Any]] = []
    assert files.apply_attributes(store.id, file_id, written.append, generation=1,
                                  written=began["attributes"])
    assert written == [{"year": 2025}]


def test_an_update_waits_for_the_write_under_way(store: Store,
                                                 refreshes: list[tuple[str, str]]) -> None:
    """Writes happen in the order their reads did: an update made while a write is under
    way commits after it, so the refresh it sends writes the newer attributes last."""
    file_id = store.new_file()
    store.submit(file_id, attributes={"v": 1})
    assert lifecycle.complete(store.id, file_id, 1, "text")
    release = threading.Event()
    written: list[dict[str, Any]] = []

    def slow_write(attributes: dict[str, Any]) -> None:
        release.wait(10)
        written.append(attributes)

    writer = threading.Thread(target=files.apply_attributes,
                              args=(store.id, file_id, slow_write))
    writer.start()
    time.sleep(0.3)
    updater = threading.Thread(target=files.update_file_attributes,
                               args=(store.project_id, store.id, file_id, {"v": 2}))
    updater.start()
    time.sleep(0.3)
    assert updater.is_alive() and not refreshes  # waiting for the write under way
    release.set()
    writer.join(5)
    updater.join(5)
    assert refreshes == [(store.id, file_id)]
    assert files.apply_attributes(store.id, file_id, written.append)  # the refresh
    assert written == [{"v": 1}, {"v": 2}]


def test_cancel_batch_cancels_its_files_in_progress(store: Store) -> None:
    batch_id = store.new_batch()
    done, broken, waiting, started = (store.new_file() for _ in range(4))
    for file_id in (done, broken, waiting, started):
        store.submit(file_id, batch_id)
    assert lifecycle.complete(store.id, done, 1, "text")
    assert lifecycle.fail(store.id, broken, 1, SERVER_ERROR)
    before = store.batch(batch_id)
    assert before["status"] == "in_progress"
    assert before["file_counts"] == counts(in_progress=2, completed=1, failed=1)

    with unit_of_work() as conn:
        assert lifecycle.cancel_batch(conn, batch_id)
    after = store.batch(batch_id)
    assert after["status"] == "cancelled"
    assert after["file_counts"] == counts(completed=1, failed=1, cancelled=2)
    assert not lifecycle.complete(store.id, started, 1, "too late")
    assert store.row(started)["status"] == "cancelled"

    # Cancelled already: a second cancel changes nothing; its completed file stays so.
    with unit_of_work() as conn:
        assert not lifecycle.cancel_batch(conn, batch_id)
    assert store.row(done)["status"] == "completed"
    # A cancelled file may be put in again, which takes it out of the batch.
    assert store.submit(started)["status"] == "in_progress"
    assert store.batch(batch_id)["file_counts"] == counts(completed=1, failed=1, cancelled=1)


def test_batch_settles_as_its_files_end(store: Store) -> None:
    batch_id = store.new_batch()
    first, second = store.new_file(), store.new_file()
    store.submit(first, batch_id)
    store.submit(second, batch_id)
    assert store.batch(batch_id)["file_counts"] == counts(in_progress=2)
    assert lifecycle.fail(store.id, first, 1, SERVER_ERROR)
    assert store.batch(batch_id)["status"] == "in_progress"
    assert lifecycle.fail(store.id, second, 1, SERVER_ERROR)
    failed = store.batch(batch_id)
    assert (failed["status"], failed["file_counts"]) == ("failed", counts(failed=2))
    # failed -> completed: its files put in again elsewhere (here, on their own).
    store.submit(first)
    store.submit(second)
    emptied = store.batch(batch_id)
    assert (emptied["status"], emptied["file_counts"]) == ("completed", counts())


def test_mixed_outcomes_settle_completed(store: Store) -> None:
    batch_id = store.new_batch()
    good, bad = store.new_file(), store.new_file()
    store.submit(good, batch_id)
    store.submit(bad, batch_id)
    assert lifecycle.complete(store.id, good, 1, "text")
    assert lifecycle.fail(store.id, bad, 1, SERVER_ERROR)
    batch = store.batch(batch_id)
    assert (batch["status"], batch["file_counts"]) == ("completed",
                                                        counts(completed=1, failed=1))


def test_an_ingest_sent_before_commit_waits_for_it(store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, int]] = []
    monkeypatch.setattr("shared.platform.tasks.send_ingest",
                        lambda *args: sent.append(args))
    file_id = store.new_file()
    found: list[dict[str, Any] | None] = []
    with unit_of_work() as conn:
        row = lifecycle.submit(conn, store.project_id, store.id, file_id, AUTO_CHUNKING, {})
        lifecycle.send_ingest_on_commit(conn, [row])
        assert sent == [(store.id, file_id, 1)]
        task = threading.Thread(target=lambda: found.append(
            lifecycle.begin_ingest(store.id, file_id, 1)))
        task.start()
        time.sleep(0.3)
        assert task.is_alive() and not found
    task.join(5)
    assert found and found[0] is not None and found[0]["generation"] == 1
