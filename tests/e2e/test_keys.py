"""API keys from the command line: created, used, revoked."""
import subprocess
import time
import uuid

import openai
import pytest

from tests.conftest import TREADLE


def treadle(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(TREADLE), *args], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def test_created_key_works_and_revoked_key_stops(api_base: str,
                                                 server_env: dict[str, str]) -> None:
    project = f"cli-{uuid.uuid4().hex}"
    key = treadle(server_env, "keys", "create", "--project", project).strip().splitlines()[-1]
    assert key.startswith("sk-treadle-")
    client = openai.OpenAI(base_url=f"{api_base}/v1", api_key=key, max_retries=0)
    assistant = client.beta.assistants.create(model="m")

    second = treadle(server_env, "keys", "create", "--project", project).strip().splitlines()[-1]
    same_project = openai.OpenAI(base_url=f"{api_base}/v1", api_key=second, max_retries=0)
    assert same_project.beta.assistants.retrieve(assistant.id).id == assistant.id

    assert treadle(server_env, "keys", "revoke", key).strip() == "revoked"
    deadline = time.monotonic() + 10
    while True:
        try:
            client.beta.assistants.list()
        except openai.AuthenticationError as error:
            assert error.status_code == 401
            break
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.1)
    assert same_project.beta.assistants.retrieve(assistant.id).id == assistant.id
    with pytest.raises(subprocess.CalledProcessError):
        treadle(server_env, "keys", "revoke", key)
