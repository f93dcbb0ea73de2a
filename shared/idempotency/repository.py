"""The SQL of Idempotency-Key claims."""
from typing import Any

from shared.storage.db import Conn


def claim(conn: Conn, row: dict[str, Any], taken_over_before: int) -> bool:
    """Insert the claim; or take the key over when its claim expired or was left in progress
    since before `taken_over_before` (its request died). False when the key is held."""
    found = conn.execute(
        "INSERT INTO idempotency_keys (project_id, key, token, fingerprint, created_at, "
        "expires_at) VALUES (%(project_id)s, %(key)s, %(token)s, %(fingerprint)s, "
        "%(created_at)s, %(expires_at)s) "
        "ON CONFLICT (project_id, key) DO UPDATE SET token = EXCLUDED.token, "
        "fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at, "
        "expires_at = EXCLUDED.expires_at, status = NULL, content_type = NULL, body = NULL, "
        "stream_run_id = NULL, stream_after = NULL "
        "WHERE idempotency_keys.expires_at <= EXCLUDED.created_at "
        "OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < %(before)s) "
        "RETURNING 1",
        {**row, "before": taken_over_before},
    ).fetchone()
    return found is not None


def find(conn: Conn, project_id: str, key: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT fingerprint, status, content_type, body, stream_run_id, stream_after "
        "FROM idempotency_keys WHERE project_id = %s AND key = %s",
        (project_id, key),
    ).fetchone()


def complete(conn: Conn, project_id: str, key: str, token: str, answer: dict[str, Any]
             ) -> None:
    conn.execute(
        "UPDATE idempotency_keys SET status = %(status)s, content_type = %(content_type)s, "
        "body = %(body)s, stream_run_id = %(stream_run_id)s, stream_after = %(stream_after)s "
        "WHERE project_id = %(project_id)s AND key = %(key)s AND token = %(token)s",
        {**answer, "project_id": project_id, "key": key, "token": token},
    )


def release(conn: Conn, project_id: str, key: str, token: str) -> None:
    conn.execute(
        "DELETE FROM idempotency_keys WHERE project_id = %s AND key = %s AND token = %s",
        (project_id, key, token),
    )


def purge_expired(conn: Conn, at: int, limit: int) -> None:
    """Delete up to `limit` expired claims (the index on expires_at finds them)."""
    conn.execute(
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM "
        "idempotency_keys WHERE expires_at <= %s LIMIT %s))",
        (at, limit),
    )
