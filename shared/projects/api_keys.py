"""Projects and their API keys; a key is shown once and stored only as a hash."""
import hashlib
import secrets
import threading

from cachetools import TTLCache

from shared.config import get_settings
from shared.projects import repository
from shared.storage.db import reading, unit_of_work

KEY_PREFIX = "sk-treadle-"


def _hash(key: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough and keeps auth cheap per request.
    return hashlib.sha256(key.encode()).digest()


def ensure_project(name: str) -> str:
    with unit_of_work() as conn:
        return repository.upsert_project(conn, name)


def create_key(project_name: str) -> str:
    """A new key for the project (created if needed); the only time the key is readable."""
    project_id = ensure_project(project_name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work() as conn:
        repository.insert_key(conn, project_id, _hash(key), key[:14] + "..." + key[-4:])
    return key


def revoke_key(key: str) -> bool:
    with unit_of_work() as conn:
        return repository.revoke_key(conn, _hash(key))


_trusted: TTLCache[bytes, str] | None = None
_trusted_lock = threading.Lock()


def project_for_key(key: str) -> str | None:
    """The key's project; a key found valid is trusted for `key_cache_seconds`, which saves
    a database round trip on nearly every request."""
    global _trusted
    digest = _hash(key)
    with _trusted_lock:
        if _trusted is None:
            _trusted = TTLCache(maxsize=10_000, ttl=get_settings().key_cache_seconds)
        project = _trusted.get(digest)
    if project is not None:
        return project
    with reading() as conn:
        project = repository.project_of_key(conn, digest)
    if project is None:
        return None
    with _trusted_lock:
        _trusted[digest] = project
    return project


def any_key_exists() -> bool:
    with reading() as conn:
        return repository.any_key(conn)
