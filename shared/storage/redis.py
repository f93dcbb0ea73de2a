"""Redis client, one per process. Redis holds only what may be lost or rebuilt."""
from redis import Redis

from shared.config import get_settings

_client: Redis | None = None


def get_redis() -> Redis:
    global _client
    if _client is None:
        _client = Redis.from_url(get_settings().redis_url, socket_timeout=5)
    return _client
