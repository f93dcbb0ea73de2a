"""Writes take turns in an API process (shared/platform/turns.py): a write that waits on the
model gives its turn back, so slow waited responses never hold up the process' other writes."""
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.e2e.scripts import script
from tests.support.waiting import wait_for

# More than an API process' turns (TREADLE_API_WRITE_TURNS, 4 by default; the suite's API
# server has one process), fewer than the suite's runs worker holds at once (8).
WAITED = 6

pytestmark = pytest.mark.usefixtures("workers")


def test_responses_waiting_on_the_model_hold_no_turn(client: openai.OpenAI,
                                                     model_server: Any) -> None:
    if not hasattr(client, "responses"):
        pytest.skip("this openai SDK has no client.responses")
    before = model_server.concurrency()["open"]
    with ThreadPoolExecutor(WAITED) as pool:
        waited = [pool.submit(client.responses.create, model="test-model",
                              input=script(delay_ms=10_000, text=f"answer {n}"))
                  for n in range(WAITED)]
        # Every create got its turn, made its response and reached the model: none is
        # queued behind the four before it, though all six still wait for their answers.
        wait_for(lambda: model_server.concurrency()["open"] - before >= WAITED, 60,
                 f"the model never had {WAITED} requests open: {model_server.concurrency()}")
        assistant = client.beta.assistants.create(model="test-model", name="meanwhile")
        assert [future for future in waited if future.done()] == []
        answers = sorted(future.result().output_text for future in waited)
    assert answers == [f"answer {n}" for n in range(WAITED)]
    assert client.beta.assistants.retrieve(assistant.id).name == "meanwhile"
