"""Assistants through the official SDK: round trips, paging, isolation."""
import openai
import pytest

FUNCTION_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    },
}


def test_create_retrieve_modify_delete(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(
        model="gpt-4o",
        name="Math Tutor",
        description="Helps with math",
        instructions="You are a personal math tutor.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search",
               "file_search": {"max_num_results": 5}}, FUNCTION_TOOL],
        metadata={"team": "math"},
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    assert created.id.startswith("asst_") and len(created.id) == len("asst_") + 24
    assert created.object == "assistant"
    assert created.name == "Math Tutor"
    assert [t.type for t in created.tools] == ["code_interpreter", "file_search", "function"]
    assert created.tools[2].function.name == "get_weather"
    assert created.metadata == {"team": "math"}
    assert created.temperature == 0.5 and created.top_p == 0.9
    assert created.response_format.type == "json_object"

    fetched = client.beta.assistants.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()

    modified = client.beta.assistants.update(
        created.id, name="Algebra Tutor", metadata={"team": "algebra"}, response_format="auto",
        tools=[],
    )
    assert modified.name == "Algebra Tutor"
    assert modified.instructions == "You are a personal math tutor."
    assert modified.metadata == {"team": "algebra"}
    assert modified.response_format == "auto"
    assert modified.tools == []

    deleted = client.beta.assistants.delete(created.id)
    assert deleted.deleted and deleted.id == created.id and deleted.object == "assistant.deleted"
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(created.id)


def test_modify_to_null_clears_fields(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o", name="n", description="d")
    cleared = client.beta.assistants.update(created.id, extra_body={"name": None,
                                                                     "description": None})
    assert cleared.name is None and cleared.description is None and cleared.model == "gpt-4o"


def test_auto_paging_250_both_orders(client: openai.OpenAI) -> None:
    ids = [client.beta.assistants.create(model="gpt-4o", name=f"a{i}").id for i in range(250)]

    ascending = [a.id for a in client.beta.assistants.list(order="asc", limit=100)]
    assert ascending == ids
    descending = [a.id for a in client.beta.assistants.list(order="desc", limit=7)]
    assert descending == ids[::-1]

    page = client.beta.assistants.list(order="asc", limit=10, after=ids[99])
    assert [a.id for a in page.data] == ids[100:110]
    assert page.has_more and page.first_id == ids[100] and page.last_id == ids[109]
    page = client.beta.assistants.list(order="asc", limit=10, before=ids[100])
    assert [a.id for a in page.data] == ids[90:100]
    page = client.beta.assistants.list(order="desc", limit=10, before=ids[100])
    assert [a.id for a in page.data] == ids[110:100:-1]
    page = client.beta.assistants.list(order="desc", limit=10, after=ids[100])
    assert [a.id for a in page.data] == ids[99:89:-1]
    last = client.beta.assistants.list(order="asc", limit=100, after=ids[-1])
    assert last.data == [] and not last.has_more


def test_projects_never_see_each_other(client: openai.OpenAI,
                                       other_client: openai.OpenAI) -> None:
    mine = client.beta.assistants.create(model="gpt-4o", name="mine")
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.update(mine.id, name="stolen")
    with pytest.raises(openai.NotFoundError):
        other_client.beta.assistants.delete(mine.id)
    assert [a.id for a in other_client.beta.assistants.list()] == []
    assert client.beta.assistants.retrieve(mine.id).name == "mine"
