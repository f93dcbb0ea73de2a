"""One `treadle up` platform per module, serving everything itself, to do faults to."""
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import chaos
from tests.support.platform import Up, bare_env, data_dir, remove


@pytest.fixture(scope="module")
def platform(model_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    folder = data_dir()
    # Short leases, so a run whose worker was killed comes back within seconds.
    env = bare_env(folder, model_server.url, TREADLE_RUN_LEASE_SECONDS="5")
    up = Up(env, tmp_path_factory.mktemp("chaos") / "up.log")
    yield up
    if up.process.poll() is None:
        up.stop()
    leftovers = up.leftovers()
    remove(folder)
    assert not leftovers, leftovers


@pytest.fixture(scope="module")
def api(platform: Up) -> openai.OpenAI:
    return chaos.client(platform, platform.key())


@pytest.fixture(scope="module")
def assistant_id(api: openai.OpenAI) -> str:
    return api.beta.assistants.create(model="test-model", name="chaos").id


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
