"""kill -9 of each kind of process under `treadle up`, with runs streaming: the supervisor
starts it again, the platform serves again, and every run in flight completes exactly once."""
import openai
import pytest

from tests.support import chaos
from tests.support.platform import Up

# Generous: a bound on coming back at all, not a speed figure (bench/chaos.py measures).
RECOVERY_BOUND_SECONDS = 60


@pytest.mark.parametrize("program", chaos.KINDS)
def test_a_killed_process_comes_back_and_no_run_is_lost(
        platform: Up, api: openai.OpenAI, assistant_id: str, program: str) -> None:
    outcome = chaos.kill_trial(platform, api, assistant_id, program)
    assert outcome.recovered_seconds < RECOVERY_BOUND_SECONDS, outcome
    assert outcome.clean, outcome
    assert platform.process.poll() is None
