"""Projects and their API keys; a key is shown once and stored only as a hash."""
import hashlib
import secrets
import threading

from cachetools import TTLCache

from shared.clock import now
from shared.config import get_settings
from shared.ids import new_id
from shared.storage.db import reading, unit_of_work

KEY_PREFIX = "sk-treadle-"


def _hash(key: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough and keeps auth cheap per request.
    return hashlib.sha256(key.encode()).digest()


def ensure_project(name: str) -> str:
    with unit_of_work() as conn:
        row = conn.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            (new_id("project"), name, now()),
        ).fetchone()
        assert row is not None
        return str(row["id"])


def create_key(project_name: str) -> str:
    """A new key for the project (created if needed); the only time the key is readable."""
    project_id = ensure_project(project_name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work() as conn:
        conn.execute(
            "INSERT INTO api_keys (id, project_id, key_hash, redacted, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (new_id("api_key"), project_id, _hash(key), key[:14] + "..." + key[-4:], now()),
        )
    return key


def revoke_key(key: str) -> bool:
    with unit_of_work() as conn:
        cursor = conn.execute(
            "UPDATE api_keys SET revoked_at = %s WHERE key_hash = %s AND revoked_at IS NULL",
            (now(), _hash(key)),
        )
        return cursor.rowcount > 0


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
        row = conn.execute(
            "SELECT project_id FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
            (digest,),
        ).fetchone()
    if row is None:
        return None
    with _trusted_lock:
        _trusted[digest] = str(row["project_id"])
    return str(row["project_id"])


def any_key_exists() -> bool:
    with reading() as conn:
        return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None
