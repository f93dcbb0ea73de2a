"""The HTTP door: a thin Flask app that validates, writes Postgres and answers."""
