"""Celery worker pools (runs, ingest, sandbox, timers)."""
