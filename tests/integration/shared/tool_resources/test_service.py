"""References in tool_resources resolved inside the caller's project
(`shared.tool_resources.service`), against real Postgres: another project's vector store or
file is answered as one that does not exist, naming the field; and what a search may read
(`shared.vector_stores.stores.stores_of_project`)."""
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.files import service as file_service
from shared.projects.api_keys import ensure_project
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.tool_resources.service import check_references, check_tool_resources
from shared.vector_stores.stores import stores_of_project


@dataclass
class Owned:
    project_id: str
    store_id: str
    file_id: str


def _project(name: str) -> Owned:
    project_id = ensure_project(f"{name}-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        store = tables.insert(conn, tables.VECTOR_STORES, {
            "project_id": project_id, "created_at": 1_700_000_000, "name": name})
    file = file_service.create_file(project_id, io.BytesIO(b"text"), "t.txt", "assistants")
    return Owned(project_id, str(store["id"]), str(file["id"]))


@pytest.fixture
def a(database_url: str) -> Owned:
    return _project("a")


@pytest.fixture
def b(database_url: str) -> Owned:
    return _project("b")


@pytest.mark.parametrize(("resources", "param", "kind"), [
    (lambda o: {"file_search": {"vector_store_ids": [o.store_id]}},
     "tool_resources.file_search.vector_store_ids[0]", "vector store"),
    (lambda o: {"code_interpreter": {"file_ids": [o.file_id]}},
     "tool_resources.code_interpreter.file_ids[0]", "file"),
    (lambda o: {"file_search": {"vector_stores": [{"file_ids": [o.file_id]}]}},
     "tool_resources.file_search.vector_stores[0].file_ids[0]", "file"),
], ids=["vector_store_ids", "code_interpreter", "vector_stores-helper"])
def test_another_projects_ids_are_not_found(
        a: Owned, b: Owned, resources: Callable[[Owned], dict[str, Any]], param: str,
        kind: str) -> None:
    foreign = a.store_id if kind == "vector store" else a.file_id
    with unit_of_work() as conn:
        with pytest.raises(InvalidRequestError) as error:
            check_references(conn, b.project_id, resources(a), "tool_resources")
        assert (error.value.param, error.value.message) == (
            param, f"No {kind} found with id '{foreign}'.")
        # The owner's ids pass as before.
        check_references(conn, a.project_id, resources(a), "tool_resources")


def test_a_store_that_does_not_exist_is_not_found(b: Owned) -> None:
    unknown = "vs_" + "a" * 24
    with unit_of_work() as conn, pytest.raises(InvalidRequestError) as error:
        check_tool_resources(conn, b.project_id, {"file_search": {
            "vector_store_ids": [unknown]}}, "tool_resources")
    assert error.value.message == f"No vector store found with id '{unknown}'."


def test_own_store_ids_are_stored_as_given(b: Owned) -> None:
    with unit_of_work() as conn:
        assert check_tool_resources(conn, b.project_id, {"file_search": {
            "vector_store_ids": [b.store_id]}}, "tool_resources") == {
            "file_search": {"vector_store_ids": [b.store_id]}}


def test_a_search_reads_only_the_projects_stores(a: Owned, b: Owned) -> None:
    gone = "vs_" + "b" * 24
    with reading() as conn:
        assert stores_of_project(conn, b.project_id,
                                 [a.store_id, b.store_id, gone, b.store_id]) == [b.store_id]
        assert stores_of_project(conn, a.project_id, [a.store_id]) == [a.store_id]
        assert stores_of_project(conn, "", [a.store_id, b.store_id]) == []
