"""Postgres and Redis: pools, the unit of work, generic table SQL, paging, migrations."""
