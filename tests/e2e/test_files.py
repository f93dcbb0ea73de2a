"""Files through the official SDK: exact bytes, purposes, paging, isolation."""
import io
import os

import openai
import pytest


def test_binary_round_trip(client: openai.OpenAI) -> None:
    data = bytes(range(256)) * 4096 + b"\x00\x00tail\x00"  # over one blob part, NULs included
    created = client.files.create(file=("blob.bin", io.BytesIO(data)), purpose="assistants")
    assert created.id.startswith("file-") and created.object == "file"
    assert created.bytes == len(data) and created.filename == "blob.bin"
    assert created.purpose == "assistants" and created.status == "processed"
    assert client.files.content(created.id).read() == data
    assert client.files.retrieve(created.id).model_dump() == created.model_dump()
    deleted = client.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)


def test_list_filters_and_pages(client: openai.OpenAI) -> None:
    made = []
    for i in range(6):
        purpose = "vision" if i % 2 else "assistants"
        made.append(client.files.create(file=(f"f{i}.txt", io.BytesIO(os.urandom(10))),
                                        purpose=purpose))
    all_ids = [f.id for f in client.files.list(order="asc")]
    assert all_ids == [f.id for f in made]
    vision = [f.id for f in client.files.list(purpose="vision", order="asc")]
    assert vision == [f.id for f in made if f.purpose == "vision"]
    paged = [f.id for f in client.files.list(limit=2, order="desc")]
    assert paged == all_ids[::-1]


def test_expiry_is_recorded(client: openai.OpenAI) -> None:
    created = client.files.create(file=("e.txt", io.BytesIO(b"x")), purpose="user_data",
                                  extra_body={"expires_after[anchor]": "created_at",
                                              "expires_after[seconds]": "3600"})
    assert created.expires_at == created.created_at + 3600


def test_files_are_private(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    created = client.files.create(file=("p.txt", io.BytesIO(b"private")), purpose="assistants")
    with pytest.raises(openai.NotFoundError):
        other_client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        other_client.files.delete(created.id)
    assert list(other_client.files.list()) == []
    with pytest.raises(openai.BadRequestError):
        other_client.beta.assistants.create(
            model="gpt-4o", tool_resources={"code_interpreter": {"file_ids": [created.id]}}
        )
    assert client.files.content(created.id).read() == b"private"
