"""Gevent for the runs pool, whose tasks spend their time waiting on the model, and for the
API, whose requests wait on streams and storage.

A runs worker holds each run as a greenlet of Celery's gevent pool, so thousands wait at once
for the price of their memory. The standard library must be patched before anything else is
imported: psycopg picks its wait function at import (a gevent-aware one only when `select` is
patched already), and redis-py, httpx and kombu must get gevent's sockets, threading its locks.
Celery's own command patches in `celery.__main__`; `treadle worker` calls `worker_main`, which
does not, so the `treadle` command does it first thing, from its arguments. The API's gunicorn
gevent workers patch only after the fork, too late for what the master imported: redis-py's
retries would sleep with the blocking `time.sleep` bound at import, stalling every request of
the worker while Redis is away.
"""
import sys

# The only pool that runs under gevent; ingest (torch, the embedded vector engine) and the
# sandbox keep OS threads.
GEVENT_POOL = "runs"


def runs_under_gevent(argv: list[str]) -> bool:
    """Whether `argv` is `treadle api ...` or `treadle worker ... --pool runs ...`."""
    args = argv[1:]
    if args[:1] == ["api"]:
        return True
    if "worker" not in args:
        return False
    for position, arg in enumerate(args):
        if arg == "--pool" and args[position + 1:position + 2] == [GEVENT_POOL]:
            return True
        if arg == f"--pool={GEVENT_POOL}":
            return True
    return False


def patch_for_command(argv: list[str] | None = None) -> bool:
    """Monkey-patch the standard library with gevent when the command runs under it; called
    before any other import of the process. True when patched."""
    if not runs_under_gevent(sys.argv if argv is None else argv):
        return False
    from gevent import monkey

    monkey.patch_all()
    return True
