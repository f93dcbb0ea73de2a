"""Tasks of the runs pool."""
from celery import Task

from shared.platform import metrics, tasks, worker_shutdown
from shared.platform.tasks import app
from shared.runs import lifecycle
from workers.runs.loop import LeaseBusyError, drive_run


@app.task(name=tasks.EXECUTE_RUN, bind=True, max_retries=None)
def execute_run(self: Task, run_id: str) -> None:
    if worker_shutdown.stopping():
        lifecycle.hand_back(run_id)
        return
    try:
        with metrics.run_in_flight():
            drive_run(run_id)
    except LeaseBusyError as busy:
        # The thread's previous stretch is still finishing on another worker.
        raise self.retry(countdown=0.2) from busy
