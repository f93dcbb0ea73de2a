"""The console's page and assets. A plain Flask blueprint, not flask-smorest: these routes are
not part of the API and stay out of the OpenAPI document. They need no key (the page asks
for one and sends it as a bearer token to /v1, which stays bearer-only)."""
import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).parent / "static"

blp = Blueprint("console", __name__, url_prefix="/console")


@cache
def _policy() -> str:
    """Same origin only, so the page can fetch nothing from elsewhere even by mistake. The
    import map is the one inline script; its hash lets it, and only it, run."""
    page = (STATIC / "index.html").read_text()
    found = re.search(r'<script type="importmap">(.*?)</script>', page, re.DOTALL)
    digest = hashlib.sha256(found.group(1).encode() if found else b"").digest()
    return (f"default-src 'self'; script-src 'self' 'sha256-{base64.b64encode(digest).decode()}'; "
            "img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")


@blp.get("", strict_slashes=False)
@blp.get("/<path:path>")
def page(path: str = "") -> Response:
    # Every console path is a deep link the page's router resolves: all answer the page.
    response = send_from_directory(STATIC, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = _policy()
    return response


@blp.get("/static/<path:path>")
def asset(path: str) -> Response:
    # File names carry no version, so a browser revalidates (ETag, 304) instead of keeping a
    # copy an upgrade would leave stale.
    return send_from_directory(STATIC, path, max_age=0)
