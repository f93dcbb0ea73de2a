"""The sandbox pool end to end: a real `treadle worker --pool sandbox` process answers
`sandbox.execute` on the process's reply list (shared.platform.replies), reading input files
from and storing output files in Postgres, on each backend this machine has.

The worker takes its tasks from a broker of its own: the suite's sandbox worker (the `workers`
fixture, with the default limits) listens on the suite's, and a task it took would answer by
its limits, not the test's."""
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.files.service import create_file, file_content, get_file
from shared.platform import tasks
from shared.platform.replies import get_replies
from shared.projects.api_keys import ensure_project
from tests.conftest import start_process, stop_processes, wait_for_line
from tests.support.sandbox import BACKENDS, TEST_LIMITS, backend_settings, end_all
from tests.support.servers import RedisServer

CALL_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis of the module's own, the sandbox worker's broker."""
    server = RedisServer(tmp_path_factory.mktemp("broker"), tcp=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox_worker(request: pytest.FixtureRequest, server_env: dict[str, str], broker: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox worker process on the backend, on the module's broker; the broker's URL."""
    backend = str(request.param)
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    settings = backend_settings(backend, data_dir)
    env = {**server_env, "TREADLE_SANDBOX": backend, "TREADLE_DATA_DIR": str(data_dir),
           "TREADLE_BROKER_URL": broker,
           **{f"TREADLE_{name.upper()}": str(value) for name, value in TEST_LIMITS.items()}}
    log = tmp_path_factory.mktemp("sandbox-worker") / "sandbox.log"
    process = start_process(["worker", "--pool", "sandbox", "--concurrency", "2"], env, log)
    try:
        # The pool names its backend once it found it, which may be just after Celery's
        # "ready." line.
        wait_for_line(log, f"sandbox backend: {backend}", process)
        yield broker
    finally:
        stop_processes([process])
        end_all(settings)


@pytest.fixture
def project_id(database_url: str) -> str:
    return ensure_project(f"sandbox-{uuid.uuid4().hex}")


def run(broker: str, project_id: str, thread_id: str, code: str,
        file_ids: list[str] | None = None) -> dict[str, Any]:
    """`sandbox.execute` sent as `shared.platform.rpc.call` sends it, through `broker`."""
    payload = {"thread_id": thread_id, "project_id": project_id, "code": code,
               "file_ids": file_ids or []}
    replies = get_replies()
    with replies.expect() as waiter, tasks.app.connection_for_write(broker) as connection:
        tasks.app.send_task(tasks.RUN_CODE, args=[replies.channel, waiter.request_id, payload],
                            connection=connection)
        answer = waiter.wait(CALL_TIMEOUT)
    assert answer is not None, "the sandbox worker did not answer"
    if "invalid_request" in answer:
        raise InvalidRequestError(answer["invalid_request"], param=answer.get("param"))
    assert "error" not in answer, answer
    result: dict[str, Any] = answer["result"]
    return result


def content(project_id: str, file_id: str) -> bytes:
    return b"".join(file_content(project_id, file_id)[1])


def test_code_reads_files_and_its_outputs_become_files(sandbox_worker: str,
                                                      project_id: str) -> None:
    thread = f"thread_{uuid.uuid4().hex}"
    upload = create_file(project_id, io.BytesIO(b"day,visits\n1,10\n2,30\n3,20\n"),
                         "visits.csv", "assistants")
    result = run(sandbox_worker, project_id, thread, (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('/mnt/data/visits.csv')\n"
        "df.plot(x='day', y='visits')\n"
        "with open('/mnt/data/summary.txt', 'w') as out:\n"
        "    out.write(f'total {df.visits.sum()}')\n"
        "print(df.visits.max())\n"
    ), [upload["id"]])
    assert (result["logs"], result["error"]) == ("30\n", False)
    files = {f["filename"]: f for f in result["files"]}
    assert set(files) == {"summary.txt", "image-0.png"}
    assert not files["summary.txt"]["is_image"] and files["image-0.png"]["is_image"]
    assert files["summary.txt"]["path"] == "/mnt/data/summary.txt"
    assert files["image-0.png"]["path"] is None
    assert content(project_id, files["summary.txt"]["file_id"]) == b"total 60"
    assert content(project_id, files["image-0.png"]["file_id"]).startswith(b"\x89PNG")
    assert get_file(project_id, files["summary.txt"]["file_id"])["purpose"] == \
        "assistants_output"
    # The thread's next call gets its inputs again and reports no unchanged file as new.
    again = run(sandbox_worker, project_id, thread,
                "print(open('/mnt/data/visits.csv').read().count(','))", [upload["id"]])
    assert (again["logs"], again["files"]) == ("4\n", [])


def test_errors_and_runaway_code_leave_the_worker_serving(sandbox_worker: str,
                                                          project_id: str) -> None:
    thread = f"thread_{uuid.uuid4().hex}"
    failed = run(sandbox_worker, project_id, thread, "int('x')")
    assert failed["error"] and "ValueError" in failed["logs"]
    looped = run(sandbox_worker, project_id, thread, "while True:\n    pass")
    assert looped["error"] and "timed out" in looped["logs"]
    still = run(sandbox_worker, project_id, thread, "print('still here')")
    assert still["logs"] == "still here\n"


def test_a_file_of_another_project_is_refused(sandbox_worker: str, project_id: str) -> None:
    foreign = create_file(ensure_project(f"other-{uuid.uuid4().hex}"), io.BytesIO(b"secret"),
                          "secret.txt", "assistants")
    with pytest.raises(InvalidRequestError):
        run(sandbox_worker, project_id, f"thread_{uuid.uuid4().hex}", "print(1)", [foreign["id"]])
