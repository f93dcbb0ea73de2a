"""The SQL of projects and their API keys; keys are found by their hash only."""
from shared.clock import now
from shared.ids import new_id
from shared.storage.db import Conn


def upsert_project(conn: Conn, name: str) -> str:
    """The id of the project named `name`, created if there is none."""
    row = conn.execute(
        "INSERT INTO projects (id, name, created_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (new_id("project"), name, now()),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def insert_key(conn: Conn, project_id: str, key_hash: bytes, redacted: str) -> None:
    conn.execute(
        "INSERT INTO api_keys (id, project_id, key_hash, redacted, created_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (new_id("api_key"), project_id, key_hash, redacted, now()),
    )


def revoke_key(conn: Conn, key_hash: bytes) -> bool:
    """Revoke the key; False if no live key has this hash."""
    cursor = conn.execute(
        "UPDATE api_keys SET revoked_at = %s WHERE key_hash = %s AND revoked_at IS NULL",
        (now(), key_hash),
    )
    return cursor.rowcount > 0


def project_of_key(conn: Conn, key_hash: bytes) -> str | None:
    """The project of the live key with this hash."""
    row = conn.execute(
        "SELECT project_id FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
        (key_hash,),
    ).fetchone()
    return None if row is None else str(row["project_id"])


def any_key(conn: Conn) -> bool:
    """Whether any key, live or revoked, was ever made."""
    return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None
