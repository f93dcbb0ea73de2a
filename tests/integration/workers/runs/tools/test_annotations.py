"""`annotate` over real run_steps rows: the calls it reads are the run's own tool_calls
steps in order (the parsing itself is tested from recorded rows in tests/unit)."""
import uuid
from typing import Any

import pytest

from shared.projects.api_keys import ensure_project
from shared.storage import repository
from shared.storage.db import unit_of_work
from shared.storage.repository import RUNS, STEPS, THREADS
from workers.runs.tools.annotations import annotate
from workers.runs.tools.file_search import marker

CREATED = 1_700_000_000


def new_run(project_id: str) -> dict[str, Any]:
    with unit_of_work() as conn:
        thread = repository.insert(conn, THREADS, {"project_id": project_id,
                                                   "created_at": CREATED})
        return repository.insert(conn, RUNS, {
            "project_id": project_id, "thread_id": thread["id"],
            "assistant_id": "asst_" + "a" * 24, "created_at": CREATED,
            "status": "in_progress", "model": "gpt-4o"})


def add_step(run: dict[str, Any], kind: str, details: dict[str, Any]) -> None:
    with unit_of_work() as conn:
        repository.insert(conn, STEPS, {
            "project_id": run["project_id"], "run_id": run["id"], "thread_id": run["thread_id"],
            "assistant_id": run["assistant_id"], "created_at": CREATED, "type": kind,
            "status": "completed", "step_details": details})


def tool_calls(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_calls", "tool_calls": list(calls)}


def search(number: int, file_id: str) -> dict[str, Any]:
    return {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "file_search", "_search": number,
            "file_search": {"results": [{"file_id": file_id, "file_name": "f", "score": 1}]}}


def code(files: dict[str, str]) -> dict[str, Any]:
    return {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []}, "_files": files}


@pytest.fixture
def project(database_url: str) -> str:
    return ensure_project(f"annotations-{uuid.uuid4().hex}")


def test_annotations_from_the_runs_own_steps(project: str) -> None:
    run, other = new_run(project), new_run(project)
    add_step(run, "tool_calls", tool_calls(search(0, "file-first"), code({"a.csv": "file-a1"})))
    add_step(run, "message_creation", {"type": "message_creation",
                                       "message_creation": {"message_id": "msg_x"}})
    add_step(run, "tool_calls", tool_calls(code({"a.csv": "file-a2"}), search(1, "file-second")))
    # Another run's calls, numbered the same, are not this run's sources.
    add_step(other, "tool_calls", tool_calls(search(0, "file-theirs"), search(2, "file-z"),
                                             code({"b.csv": "file-b"})))

    text = (f"See{marker(0, 0, 'f')} and{marker(1, 0, 'f')} and{marker(2, 0, 'f')}: "
            "sandbox:/mnt/data/a.csv, sandbox:/mnt/data/b.csv")
    with unit_of_work() as conn:
        found = annotate(conn, run["id"], text)
    assert [(a["type"], a[a["type"]]["file_id"]) for a in found] == [
        ("file_citation", "file-first"), ("file_citation", "file-second"),
        # Written twice: the later step's file.
        ("file_path", "file-a2"),
    ]


def test_a_run_without_tool_calls(project: str) -> None:
    run = new_run(project)
    with unit_of_work() as conn:
        assert annotate(conn, run["id"], f"Cited{marker(0, 0, 'f')}.") == []
