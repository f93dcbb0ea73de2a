import uuid

import openai
import pytest


@pytest.fixture
def client(api_base: str, api_key: str) -> openai.OpenAI:
    """The official SDK pointed at Treadle; retries off so a 5xx fails the test at once."""
    return openai.OpenAI(base_url=f"{api_base}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def other_client(api_base: str, database_url: str) -> openai.OpenAI:
    from shared.projects.api_keys import create_key

    key = create_key(f"other-{uuid.uuid4().hex}")
    return openai.OpenAI(base_url=f"{api_base}/v1", api_key=key, max_retries=0)
