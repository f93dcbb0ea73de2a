"""Bearer API keys: every /v1 request runs as the project its key belongs to."""
from flask import g, request

from shared.errors import AuthenticationError
from shared.projects.api_keys import project_for_key


def authenticate() -> None:
    if not request.path.startswith("/v1/"):
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AuthenticationError(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code=None,
        )
    project = project_for_key(key)
    if project is None:
        shown = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "*" * len(key)
        raise AuthenticationError(f"Incorrect API key provided: {shown}.")
    g.project_id = project


def project_id() -> str:
    return str(g.project_id)
