"""Versioned SQL migrations, applied in order under an advisory lock so every start may run them."""
from collections.abc import Callable
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Any constant shared by all Treadle processes; it serialises concurrent migrators.
_LOCK_KEY = 0x7472656164

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def ensure_database(database_url: str) -> bool:
    """Create the configured database when the server lacks it; True when created."""
    params = conninfo_to_dict(database_url)
    name = str(params.get("dbname") or "")
    if not name:
        return False
    maintenance = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
        return True


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("shared.storage") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def pending(database_url: str) -> list[str]:
    """The versions not applied yet (all of them on a database never migrated)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        ledger = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        done = ({r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                if ledger and ledger[0] else set())
    return [version for version, _ in migration_files() if version not in done]


def migrate(database_url: str, on_applied: Callable[[str], None] | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    ensure_database(database_url)
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_LEDGER)
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, text in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                    )
                applied.append(version)
                if on_applied is not None:
                    on_applied(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
