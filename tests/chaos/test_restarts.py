"""Stop then start on the same data directory at any gap: the new instance waits for the
old one to let go, starts its own services, and serves with every object kept."""
from pathlib import Path

import openai
import pytest

from tests.support import chaos
from tests.support.platform import Up


@pytest.mark.parametrize("gap", [0.0, 0.5, 5.0])
def test_a_restart_at_any_gap_comes_back_ready(platform: Up, api: openai.OpenAI,
                                               assistant_id: str, gap: float,
                                               log_dir: Path) -> None:
    key = api.api_key
    fresh, outcome = chaos.restart_trial(platform, gap, log_dir / "up.log", key, assistant_id)
    # The module's fixture stops whichever instance serves last.
    platform.process = fresh.process
    platform.log = fresh.log
    assert outcome.clean, outcome
    assert chaos.client(fresh, key).beta.assistants.retrieve(assistant_id).name == "chaos"
