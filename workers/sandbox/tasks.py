"""Tasks of the sandbox pool: run code_interpreter code in the thread's session.

Only this pool runs code. The runs pool asks it over `shared.platform.rpc` with
`{"thread_id", "project_id", "code", "file_ids"}` and gets back
`{"logs", "error", "files": [{"file_id", "filename", "path", "is_image"}]}`: input files are
placed under /mnt/data by filename, and every file the code created or changed there (and
every figure it left open) is stored as a file with purpose `assistants_output`.
"""
import io
import logging
import os
import threading
import time
from typing import Any

from celery.signals import worker_ready

from sandbox.sessions import InputFile, OutputFile, get_sessions
from shared.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from shared.files.service import create_file, file_content
from shared.platform import metrics, tasks
from shared.platform.rpc import answer
from shared.platform.tasks import app

log = logging.getLogger(__name__)

OUTPUT_PURPOSE = "assistants_output"
REAP_EVERY_SECONDS = 60.0
# While no sandbox can run (`treadle up` may be preparing one in the background), how often
# the pool looks again.
AWAIT_BACKEND_SECONDS = 5.0


def _inputs(project_id: str, file_ids: list[str]) -> list[InputFile]:
    """The input files, each read inside the payload's project: another project's file is
    not found there, and the call is refused before any byte is read."""
    inputs = []
    names: set[str] = set()
    for file_id in dict.fromkeys(file_ids):
        file, chunks = file_content(project_id, file_id)
        name = os.path.basename(file["filename"])
        if name in ("", ".", ".."):
            name = file_id
        # Two files of one name both stay reachable: the later one carries its id.
        if name in names:
            name = f"{file_id}-{name}"
        names.add(name)
        inputs.append(InputFile(name=name, data=b"".join(chunks), key=file_id))
    return inputs


def _store(project_id: str, output: OutputFile) -> dict[str, Any]:
    file = create_file(project_id, io.BytesIO(output.data), os.path.basename(output.name),
                       OUTPUT_PURPOSE)
    # Figures the code only drew have no place under /mnt/data.
    path = None if output.figure else f"/mnt/data/{output.name}"
    return {"file_id": file["id"], "filename": file["filename"], "path": path,
            "is_image": output.is_image}


def run_code(payload: dict[str, Any]) -> dict[str, Any]:
    project_id = payload["project_id"]
    cell = get_sessions().run_cell(payload["thread_id"], payload["code"],
                                       _inputs(project_id, payload.get("file_ids", [])))
    logs = cell.logs
    files = []
    for output in cell.files:
        if not output.data:
            continue
        try:
            files.append(_store(project_id, output))
        except InvalidRequestError as error:
            logs += f"\n{output.name} was not kept: {error.message}"
    return {"logs": logs, "error": cell.error, "files": files}


@app.task(name=tasks.RUN_CODE)
def answer_run_code(channel: str, request_id: str, payload: dict[str, Any]) -> None:
    try:
        answer(channel, request_id, {"result": run_code(payload)})
    except (InvalidRequestError, NotFoundError) as error:
        answer(channel, request_id, {"invalid_request": error.message, "param": error.param})
    except ServiceUnavailableError as error:
        answer(channel, request_id, {"error": error.message})
    except Exception:
        log.exception("sandbox call failed")
        answer(channel, request_id, {"error": "The code sandbox could not run the code."})


def _await_backend() -> None:
    """Say which backend runs code, or why none can yet, and again once one can."""
    waiting = False
    while True:
        try:
            name = get_sessions().backend.name
        except ServiceUnavailableError as error:
            if not waiting:
                log.error("%s", error.message)
                waiting = True
            time.sleep(AWAIT_BACKEND_SECONDS)
            continue
        log.info("sandbox backend%s: %s", " ready" if waiting else "", name)
        return


def _reap_forever() -> None:
    _await_backend()
    while True:
        time.sleep(REAP_EVERY_SECONDS)
        try:
            sessions = get_sessions()
            reaped = sessions.reap()
            metrics.set_sandbox_sessions(len(sessions.backend.running()))
        except Exception:
            log.exception("reaping sandbox sessions failed")
            continue
        if reaped:
            log.info("reaped idle sandbox sessions of %s", ", ".join(reaped))


@worker_ready.connect
def start_reaper(sender: Any = None, **kwargs: Any) -> None:
    """Each sandbox worker names its backend once one can run, then reaps its host's idle
    sessions (the thread locks keep two workers from ending one session twice)."""
    if sender is not None and "sandbox" not in {q.name for q in sender.app.amqp.queues
                                                .consume_from.values()}:
        return
    threading.Thread(target=_reap_forever, name="sandbox-reaper", daemon=True).start()
