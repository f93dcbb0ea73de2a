"""Redis client, one per process. Redis holds only what may be lost or rebuilt.

Redis may restart at any moment (`treadle up` restarting its embedded server, a failover).
Each command rides that out: on a connection error or a timeout redis-py reconnects and
retries it with exponential backoff, for about RETRY_SECONDS, so a restart is a pause rather
than an error. Past that the error is raised (one of UNAVAILABLE) and the caller decides:
the API answers 503, a run's execution is abandoned for recovery to resume.
"""
from typing import Any

from redis import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from shared.config import get_settings

# Waits of 0.1, 0.2, 0.4, 0.8 and then 1 s between tries: a server restarted and reloaded
# within this many seconds costs its callers nothing but the wait.
RETRY_SECONDS = 5.5
_RETRY = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=8)
# BusyLoadingError (a restarted server still reading its data) is a ConnectionError.
UNAVAILABLE = (ConnectionError, TimeoutError)

_client: Redis | None = None
_probe: Redis | None = None
_shared_connections: int | None = None


def share_connections(limit: int) -> None:
    """Bound this process's connections (before its first command): callers share `limit`
    and one finding them all busy waits for a free one, never fails. For a runs worker,
    whose thousands of runs each need Redis only for a command at a time."""
    global _shared_connections
    _shared_connections = limit


_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5, "socket_connect_timeout": 2,
    "retry": _RETRY, "retry_on_error": list(UNAVAILABLE),
    # A pooled connection idle this long is pinged before use, so one the network dropped
    # silently is replaced rather than written into.
    "health_check_interval": 30,
}


def get_redis() -> Redis:
    global _client
    if _client is None:
        url = get_settings().redis_url
        _client = Redis.from_url(url, **_OPTIONS) if _shared_connections is None else Redis(
            connection_pool=BlockingConnectionPool.from_url(
                url, max_connections=_shared_connections, timeout=None, **_OPTIONS))
    return _client


def ping_now() -> None:
    """Raise unless Redis answers at once: a readiness probe must not wait out a restart."""
    global _probe
    if _probe is None:
        _probe = Redis.from_url(get_settings().redis_url, socket_timeout=1,
                                socket_connect_timeout=1)
    _probe.ping()


def uptime_seconds() -> int:
    """How long the Redis server has been up: less than a lease period after a restart,
    holders of leases it forgot may not have taken them back yet."""
    info: Any = get_redis().info("server")
    return int(info["uptime_in_seconds"])


def server_run_id() -> str:
    """The running Redis server's id, new at each start: a change means it may have lost
    what it held (indexes to rebuild)."""
    info: Any = get_redis().info("server")
    return str(info["run_id"])
