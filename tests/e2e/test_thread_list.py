"""`GET /v1/threads`, Treadle's thread list (OpenAI's API has none): the key's project's
threads, paged like every other list, through the SDK's generic `get`."""
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.test_spec_shapes import check

LIST_KEYS = {"object", "data", "first_id", "last_id", "has_more"}


def listed(client: openai.OpenAI, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = client.get("/threads", cast_to=object, options={"params": params})
    assert set(page) == LIST_KEYS and page["object"] == "list", page
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [thread["id"] for thread in page["data"]]


def make_threads(client: openai.OpenAI, count: int) -> list[str]:
    return [client.beta.threads.create(metadata={"n": str(n)}).id for n in range(count)]


def test_threads_are_listed_newest_first(client: openai.OpenAI) -> None:
    empty = listed(client)
    assert empty["data"] == [] and empty["first_id"] is None and empty["last_id"] is None
    assert empty["has_more"] is False
    made = make_threads(client, 3)
    page = listed(client)
    assert ids(page) == made[::-1]
    assert page["first_id"] == made[-1] and page["last_id"] == made[0]
    assert page["has_more"] is False
    for thread in page["data"]:
        check(thread, "ThreadObject")
    assert page["data"][0]["metadata"] == {"n": "2"}
    assert page["data"][0] == client.get(f"/threads/{made[-1]}", cast_to=object)
    assert ids(listed(client, order="asc")) == made
    assert ids(listed(client, order="desc")) == made[::-1]


def test_paging_walks_every_thread_once(client: openai.OpenAI) -> None:
    made = make_threads(client, 7)
    walked: list[str] = []
    after: str | None = None
    while True:
        page = listed(client, limit=3, **({"after": after} if after else {}))
        walked += ids(page)
        assert page["last_id"] == (ids(page)[-1] if page["data"] else None)
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert walked == made[::-1]

    ascending = listed(client, limit=2, order="asc", after=made[1])
    assert ids(ascending) == made[2:4] and ascending["has_more"] is True
    # `before` alone gives the page nearest the cursor, in the list's order.
    assert ids(listed(client, limit=2, before=made[2])) == [made[4], made[3]]
    assert ids(listed(client, limit=2, order="asc", before=made[5])) == [made[3], made[4]]
    assert ids(listed(client, after=made[5], before=made[1])) == [made[4], made[3], made[2]]
    last = listed(client, limit=7)
    assert len(last["data"]) == 7 and last["has_more"] is False
    assert listed(client, limit=6)["has_more"] is True
    assert len(listed(client, limit=100)["data"]) == 7


def test_a_deleted_thread_is_no_longer_listed(client: openai.OpenAI) -> None:
    made = make_threads(client, 2)
    client.beta.threads.delete(made[0])
    assert ids(listed(client)) == [made[1]]


def test_another_projects_threads_are_never_listed(client: openai.OpenAI,
                                                   other_client: openai.OpenAI) -> None:
    mine = make_threads(client, 2)
    theirs = make_threads(other_client, 3)
    assert ids(listed(client)) == mine[::-1]
    assert ids(listed(other_client)) == theirs[::-1]
    # Another project's thread is no cursor here: a 400 naming the parameter, as for an id
    # that does not exist.
    for param in ("after", "before"):
        with pytest.raises(openai.BadRequestError) as info:
            listed(client, **{param: theirs[0]})
        assert isinstance(info.value.body, dict)
        assert info.value.body["param"] == param, info.value.body
        assert theirs[0] in info.value.body["message"]


@pytest.mark.parametrize(("params", "param"), [
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"order": "sideways"}, "order"),
    ({"after": "thread_" + "a" * 24}, "after"),
    ({"before": "not-an-id"}, "before"),
])
def test_bad_paging_is_a_400_naming_the_parameter(client: openai.OpenAI,
                                                  params: dict[str, Any], param: str) -> None:
    make_threads(client, 1)
    with pytest.raises(openai.BadRequestError) as info:
        listed(client, **params)
    body = info.value.body
    assert isinstance(body, dict), body
    assert body["type"] == "invalid_request_error" and body["param"] == param, body
    assert body["message"]


def test_the_list_needs_a_key(client: openai.OpenAI) -> None:
    keyless = client.with_options(api_key="sk-treadle-wrong")
    with pytest.raises(openai.AuthenticationError):
        listed(keyless)


def test_the_extension_is_in_the_openapi_document(api_base: str) -> None:
    operation = httpx.get(f"{api_base}/openapi.json", timeout=10).json()["paths"][
        "/v1/threads"]["get"]
    assert "extension" in operation["summary"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "order", "after", "before"}
