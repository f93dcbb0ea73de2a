"""`workers.model` against the test model server: a streamed call read to its end leaves its
connection to the next call."""
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import get_settings
from workers import model


@pytest.fixture
def own_client(model_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's model client made anew, on the test model server."""
    monkeypatch.setenv("TREADLE_MODEL_BASE_URL", model_server.url)
    get_settings.cache_clear()
    model.client.cache_clear()
    yield
    model.client.cache_clear()
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_finished_stream_leaves_its_connection_to_the_next_call(
        own_client: None, model_server: Any) -> None:
    marker = uuid.uuid4().hex
    request = {"model": "test-model",
               "messages": [{"role": "user", "content": f"{marker} hello there"}]}
    texts = []
    for _ in range(3):
        with model.stream_chat(request) as chunks:
            texts.append("".join(choice["delta"].get("content") or ""
                                 for chunk in chunks for choice in chunk["choices"]))
    calls = [record for record in model_server.requests("/v1/chat/completions")
             if marker in json.dumps(record["body"])]
    assert len(calls) == 3 and all(call["completed"] for call in calls)
    assert texts[0] and texts == [texts[0]] * 3
    # One connection for the three calls (each read to its end, the chunked body's last
    # chunk included); an unread end made httpx close it, and each call opened another.
    assert len({call["client"] for call in calls}) == 1
