"""A runs task that finds its run's thread lease held by another worker: a run already
started there is that worker's (the task returns, so a second task for a run never spins);
a run still waiting to start is retried once the thread's previous stretch lets go. Either
way whether the task names the run's thread (a task sending a run `queued` does) or not."""
import uuid
from collections.abc import Iterator

import pytest

from shared.clock import now
from shared.projects.api_keys import ensure_project
from shared.runs.leases import LeaseBusyError, ThreadLease
from shared.storage import repository as tables
from shared.storage.db import reading, unit_of_work
from shared.storage.repository import ASSISTANTS, RUNS, THREADS
from workers.runs.loop import drive_run


def make_run(status: str) -> tuple[str, str]:
    """A run of a project of its own in `status`; its id and its thread's."""
    project_id = ensure_project(f"second-task-{uuid.uuid4().hex}")
    with unit_of_work() as conn:
        assistant = tables.insert(conn, ASSISTANTS, {
            "project_id": project_id, "created_at": now(), "model": "test-model"})
        thread = tables.insert(conn, THREADS, {"project_id": project_id, "created_at": now()})
        run = tables.insert(conn, RUNS, {
            "project_id": project_id, "thread_id": thread["id"],
            "assistant_id": assistant["id"], "created_at": now(), "status": status,
            "model": "test-model", "expires_at": now() + 600, "attempts": 1})
    return str(run["id"]), str(thread["id"])


@pytest.fixture
def held(database_url: str, redis_url: str) -> Iterator[list[ThreadLease]]:
    """Leases the test holds as another worker would, released at its end."""
    leases: list[ThreadLease] = []
    yield leases
    for lease in leases:
        lease.release()


def hold(held: list[ThreadLease], thread_id: str) -> None:
    lease = ThreadLease(thread_id)
    assert lease.acquire()
    held.append(lease)


def status_and_attempts(run_id: str) -> tuple[str, int]:
    with reading() as conn:
        row = conn.execute("SELECT status, attempts FROM runs WHERE id = %s",
                           (run_id,)).fetchone()
    assert row is not None
    return row["status"], row["attempts"]


@pytest.fixture(params=[False, True], ids=["run-only", "with-thread"])
def names_thread(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_a_second_task_for_a_run_another_worker_executes_does_nothing(
        held: list[ThreadLease], names_thread: bool) -> None:
    run_id, thread_id = make_run("in_progress")
    hold(held, thread_id)
    drive_run(run_id, thread_id if names_thread else None)
    assert status_and_attempts(run_id) == ("in_progress", 1)


def test_a_run_waiting_to_start_on_a_busy_thread_is_retried(
        held: list[ThreadLease], names_thread: bool) -> None:
    run_id, thread_id = make_run("queued")
    hold(held, thread_id)
    with pytest.raises(LeaseBusyError):
        drive_run(run_id, thread_id if names_thread else None)
    assert status_and_attempts(run_id) == ("queued", 1)
