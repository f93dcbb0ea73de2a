"""Cursor pagination (`shared.pagination.fetch_page`) over real assistants rows in Postgres."""
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.projects.api_keys import ensure_project
from shared.storage import repository
from shared.storage.db import unit_of_work
from shared.storage.pagination import Page, PageQuery, fetch_page
from shared.storage.repository import ASSISTANTS

COUNT = 12


def _project_with_assistants(count: int) -> tuple[str, list[str]]:
    project_id = ensure_project(f"pagination-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        ids = [
            repository.insert(conn, ASSISTANTS, {
                "project_id": project_id, "created_at": 1_700_000_000, "model": "gpt-4o",
                "name": f"a{i}",
            })["id"]
            for i in range(count)
        ]
    return project_id, ids


@pytest.fixture
def rows(database_url: str) -> Iterator[tuple[str, list[str]]]:
    """A project of this test's own holding COUNT assistants, ids in creation order."""
    yield _project_with_assistants(COUNT)


def page(project_id: str, **kwargs: Any) -> Page:
    with unit_of_work() as conn:
        return fetch_page(conn, "assistants", {"project_id": project_id}, PageQuery(**kwargs))


def ids_of(result: Page) -> list[str]:
    return [row["id"] for row in result.data]


def test_ascending_and_descending(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    ascending = page(project, limit=100, order="asc")
    assert ids_of(ascending) == ids and not ascending.has_more
    descending = page(project, limit=100, order="desc")
    assert ids_of(descending) == ids[::-1] and not descending.has_more


def test_default_query_is_newest_twenty(database_url: str) -> None:
    project, ids = _project_with_assistants(25)
    result = page(project)
    assert ids_of(result) == ids[::-1][:20]
    assert result.has_more


def test_rows_are_whole(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    first = page(project, limit=1, order="asc").data[0]
    assert first["id"] == ids[0] and first["name"] == "a0" and first["model"] == "gpt-4o"
    assert first["project_id"] == project


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_limit_and_has_more(rows: tuple[str, list[str]], order: str) -> None:
    project, ids = rows
    expected = ids if order == "asc" else ids[::-1]
    result = page(project, limit=5, order=order)
    assert ids_of(result) == expected[:5] and result.has_more
    exact = page(project, limit=COUNT, order=order)
    assert ids_of(exact) == expected and not exact.has_more
    assert not page(project, limit=COUNT + 1, order=order).has_more
    assert ids_of(page(project, limit=1, order=order)) == expected[:1]


def test_after_ascending(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    result = page(project, limit=4, order="asc", after=ids[2])
    assert ids_of(result) == ids[3:7] and result.has_more
    tail = page(project, limit=100, order="asc", after=ids[8])
    assert ids_of(tail) == ids[9:] and not tail.has_more


def test_after_descending(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    result = page(project, limit=4, order="desc", after=ids[9])
    assert ids_of(result) == ids[8:4:-1] and result.has_more
    tail = page(project, limit=100, order="desc", after=ids[3])
    assert ids_of(tail) == ids[2::-1] and not tail.has_more


def test_before_ascending(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    # The page nearest the cursor, still in ascending order.
    result = page(project, limit=3, order="asc", before=ids[7])
    assert ids_of(result) == ids[4:7] and result.has_more
    head = page(project, limit=100, order="asc", before=ids[3])
    assert ids_of(head) == ids[:3] and not head.has_more


def test_before_descending(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    result = page(project, limit=3, order="desc", before=ids[4])
    assert ids_of(result) == ids[7:4:-1] and result.has_more
    head = page(project, limit=100, order="desc", before=ids[8])
    assert ids_of(head) == ids[:8:-1] and not head.has_more


def test_after_and_before_together(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    between = page(project, limit=100, order="asc", after=ids[2], before=ids[8])
    assert ids_of(between) == ids[3:8] and not between.has_more
    first_two = page(project, limit=2, order="asc", after=ids[2], before=ids[8])
    assert ids_of(first_two) == ids[3:5] and first_two.has_more
    descending = page(project, limit=100, order="desc", after=ids[8], before=ids[2])
    assert ids_of(descending) == ids[7:2:-1] and not descending.has_more
    neighbours = page(project, limit=100, order="asc", after=ids[4], before=ids[5])
    assert neighbours.data == [] and not neighbours.has_more


def test_empty_page_after_the_last(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    for order, last in (("asc", ids[-1]), ("desc", ids[0])):
        result = page(project, limit=20, order=order, after=last)
        assert result.data == [] and not result.has_more
        assert result.to_dict() == {"object": "list", "data": [], "first_id": None,
                                    "last_id": None, "has_more": False}
    assert page(project, limit=20, order="asc", before=ids[0]).data == []
    assert page(project, limit=20, order="desc", before=ids[-1]).data == []


def test_walking_every_page_visits_each_row_once(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    for order, expected in (("asc", ids), ("desc", ids[::-1])):
        seen: list[str] = []
        cursor = None
        while True:
            result = page(project, limit=5, order=order, after=cursor)
            seen += ids_of(result)
            if not result.has_more:
                break
            cursor = result.to_dict()["last_id"]
        assert seen == expected


def test_to_dict_shape(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    listed = page(project, limit=3, order="asc", after=ids[0]).to_dict()
    assert listed["object"] == "list"
    assert [row["id"] for row in listed["data"]] == ids[1:4]
    assert listed["first_id"] == ids[1] and listed["last_id"] == ids[3]
    assert listed["has_more"] is True


def test_empty_project(database_url: str) -> None:
    project = ensure_project(f"pagination-empty-{uuid.uuid4().hex}")
    result = page(project, limit=20, order="desc")
    assert result.data == [] and not result.has_more


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_unknown_cursor(rows: tuple[str, list[str]], cursor: str) -> None:
    project, _ = rows
    unknown = "asst_" + "z" * 24
    with pytest.raises(InvalidRequestError) as info:
        page(project, **{cursor: unknown})
    assert info.value.param == cursor
    assert info.value.status == 400
    assert unknown in info.value.message


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_cursor_from_another_project_is_unknown(rows: tuple[str, list[str]],
                                                cursor: str) -> None:
    project, _ = rows
    _, theirs = _project_with_assistants(3)
    with pytest.raises(InvalidRequestError) as info:
        page(project, **{cursor: theirs[1]})
    assert info.value.param == cursor


def test_projects_are_scoped(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    other, theirs = _project_with_assistants(4)
    assert ids_of(page(project, limit=100, order="asc")) == ids
    assert ids_of(page(other, limit=100, order="asc")) == theirs


def test_repository_page_matches(rows: tuple[str, list[str]]) -> None:
    project, ids = rows
    with unit_of_work() as conn:
        result = repository.page(conn, ASSISTANTS, {"project_id": project},
                                 PageQuery(limit=4, order="asc", after=ids[0]))
    assert ids_of(result) == ids[1:5] and result.has_more
