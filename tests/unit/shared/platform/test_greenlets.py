"""Which `treadle` commands run under gevent (`shared.platform.greenlets`)."""
import pytest

from shared.platform.greenlets import runs_under_gevent


@pytest.mark.parametrize("argv", [
    ["treadle", "worker", "--pool", "runs"],
    ["treadle", "worker", "--pool=runs", "--concurrency", "300"],
    ["python", "worker", "--name", "runs-1", "--pool", "runs"],
    ["treadle", "api"],
    ["treadle", "api", "--port", "8001"],
])
def test_the_api_and_a_runs_worker_run_under_gevent(argv: list[str]) -> None:
    assert runs_under_gevent(argv)


@pytest.mark.parametrize("argv", [
    ["treadle", "worker", "--pool", "ingest"],
    ["treadle", "worker", "--pool", "sandbox", "--name", "runs"],
    ["treadle", "worker", "--pool"],
    ["treadle", "status"],
    ["treadle", "worker", "--pool", "timers", "--name", "api"],
    ["treadle", "up"],
])
def test_every_other_command_keeps_threads(argv: list[str]) -> None:
    assert not runs_under_gevent(argv)
