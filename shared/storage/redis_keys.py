"""Every Redis key Treadle writes, built here and nowhere else: `purpose:scope:id`.

Redis holds only what may be lost or rebuilt, so each key has a TTL, set where it is
written, or says here why it has none. Celery's broker keys are Celery's own.

- `events:run:<run_id>`: the run's event stream; `events_ttl_seconds` after the last append.
- `cancel:run:<run_id>`: a cancel asked of a run in progress; `events_ttl_seconds`, deleted
  when the run ends.
- `recover:run:<run_id>`: recovery requeued the run; `run_lease_seconds`, so one requeue per
  lease period.
- `lease:thread:<thread_id>`: the worker lease on a thread; `run_lease_seconds`, renewed
  while held.
- `deadlines:run:requires_action`: sorted set of run id -> `expires_at`. No TTL: an index of
  live deadlines whose members leave one by one as runs move on; rebuilt from Postgres when
  a timers worker starts and when Redis restarted, so losing it costs nothing.
- `appended:events:streams`: a pub/sub channel, not a key, so it holds nothing to expire:
  the name of each stream just appended to, which every process's stream relay
  (shared/runs/relay.py) hears, to fetch what its followers wait for.
- `replies:process:<uuid>`: the answers to one process's rpc calls, a list its reply reader
  (shared/platform/replies.py) empties as they come; `REPLY_TTL_SECONDS` after the last
  answer pushed, so the answers of a process that died go with it.
- `metrics:deployment:series` and `metrics:deployment:gauges`: every process's counters and
  gauges; TTL renewed on each flush.
"""
import uuid

RUN_DEADLINES = "deadlines:run:requires_action"
METRIC_SERIES = "metrics:deployment:series"
METRIC_GAUGES = "metrics:deployment:gauges"
STREAMS_APPENDED = "appended:events:streams"


def run_events(run_id: str) -> str:
    return f"events:run:{run_id}"


def run_cancel(run_id: str) -> str:
    return f"cancel:run:{run_id}"


def run_recovery(run_id: str) -> str:
    return f"recover:run:{run_id}"


def thread_lease(thread_id: str) -> str:
    return f"lease:thread:{thread_id}"


def new_process_replies() -> str:
    return f"replies:process:{uuid.uuid4().hex}"
