"""Which `treadle` commands run under gevent (`shared.platform.greenlets`)."""
import pytest

from shared.platform.greenlets import starts_gevent_worker


@pytest.mark.parametrize("argv", [
    ["treadle", "worker", "--pool", "runs"],
    ["treadle", "worker", "--pool=runs", "--concurrency", "300"],
    ["python", "worker", "--name", "runs-1", "--pool", "runs"],
])
def test_a_runs_worker_runs_under_gevent(argv: list[str]) -> None:
    assert starts_gevent_worker(argv)


@pytest.mark.parametrize("argv", [
    ["treadle", "worker", "--pool", "ingest"],
    ["treadle", "worker", "--pool", "sandbox", "--name", "runs"],
    ["treadle", "worker", "--pool"],
    ["treadle", "api"],
    ["treadle", "status"],
    ["treadle", "up"],
])
def test_every_other_command_keeps_threads(argv: list[str]) -> None:
    assert not starts_gevent_worker(argv)
