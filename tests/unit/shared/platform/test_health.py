"""`GET /v1/status`'s answer from readers that answer, fail or hang: a hung read holds up no
answer, is never started twice, and its figures are null with the reason in `errors`."""
import threading
from collections.abc import Iterator

import pytest

from shared.platform import health
from shared.platform.health import _Fact, _Facts

COUNTS = {"completed": 3}


class Readers:
    """Stand-ins for the services' reads, counting their calls; `workers` hangs until let go."""

    def __init__(self) -> None:
        self.calls = {"postgres": 0, "redis": 0, "broker": 0, "workers": 0}
        self.release = threading.Event()

    def postgres(self) -> health.Fields:
        self.calls["postgres"] += 1
        return {"migrations_pending": [], "ingest_backlog": 2}, {}

    def redis(self) -> health.Fields:
        self.calls["redis"] += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def broker(self) -> health.Fields:
        self.calls["broker"] += 1
        return {"queues": {"runs": 4}}, {}

    def workers(self) -> health.Fields:
        self.calls["workers"] += 1
        self.release.wait(30)
        return {"workers": ["runs@host"]}, {}


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Readers]:
    readers = Readers()
    monkeypatch.setattr(health, "FACTS", {
        "postgres": _Fact(readers.postgres, ("migrations_pending", "ingest_backlog"), True),
        "redis": _Fact(readers.redis, ("runs_in_flight",), True),
        "broker": _Fact(readers.broker, ("queues",), True),
        "workers": _Fact(readers.workers, ("workers",), False),
    })
    monkeypatch.setattr(health, "_facts", _Facts())
    monkeypatch.setattr(health, "STATUS_DEADLINE_SECONDS", 0.2)
    monkeypatch.setattr(health, "project_runs", lambda project_id, timeout: dict(COUNTS))
    yield readers
    readers.release.set()


def test_a_hung_read_leaves_its_figures_null_and_the_rest_answered(readers: Readers) -> None:
    answer = health.project_status("proj_a")
    assert answer["project"] == {"id": "proj_a", "runs": COUNTS}
    deployment = answer["deployment"]
    assert deployment["services"]["postgres"] == {"ok": True, "error": None}
    assert deployment["services"]["broker"] == {"ok": True, "error": None}
    assert deployment["services"]["redis"]["ok"] is False
    assert "Connection refused" in deployment["services"]["redis"]["error"]
    assert deployment["queues"] == {"runs": 4} and deployment["ingest_backlog"] == 2
    assert deployment["runs_in_flight"] is None and deployment["workers"] is None
    assert answer["errors"]["deployment.runs_in_flight"].startswith("redis: ConnectionError")
    assert answer["errors"]["deployment.workers"].startswith("workers: not read yet")
    assert answer["healthy"] is False


def test_a_read_still_going_is_not_started_again(readers: Readers) -> None:
    health.project_status("proj_a")
    health.project_status("proj_b")
    # Fresh reads are kept: nothing is read twice within FACTS_FRESH_SECONDS.
    assert readers.calls == {"postgres": 1, "redis": 1, "broker": 1, "workers": 1}
    readers.release.set()
    health._facts.reads["workers"][0].result(timeout=30)
    answer = health.project_status("proj_a")
    assert answer["deployment"]["workers"] == ["runs@host"]
    assert "deployment.workers" not in answer["errors"]
    assert readers.calls["workers"] == 1


def test_the_project_part_fails_alone(readers: Readers, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    def down(project_id: str, timeout: float) -> dict[str, int]:
        raise TimeoutError("couldn't get a connection after 1.25 sec")

    monkeypatch.setattr(health, "project_runs", down)
    answer = health.project_status("proj_a")
    assert answer["project"] == {"id": "proj_a", "runs": None}
    assert answer["errors"]["project.runs"].startswith("TimeoutError: couldn't get")
    assert answer["deployment"]["queues"] == {"runs": 4}
