"""Swagger UI's files for `/docs`, served from the pinned `flask-swagger-ui` package, so the
page works on a host with no way out (flask-smorest's default points at a CDN). A plain
Flask blueprint: no part of the OpenAPI document."""
from importlib import metadata, resources

from flask import Blueprint, Response, send_from_directory

from shared.errors import NotFoundError

# Only the package's copy of swagger-ui-dist is used, not its Flask blueprint.
VERSION = metadata.version("flask-swagger-ui")
ASSETS = resources.files("flask_swagger_ui").joinpath("dist")
# The version is in the path, so a file's answer never changes: browsers keep it a year.
URL = f"/docs/swagger-ui/{VERSION}/"
CACHE_SECONDS = 365 * 24 * 3600

blp = Blueprint("docs_assets", __name__)


@blp.route("/docs/swagger-ui/<version>/<path:filename>")
def swagger_ui(version: str, filename: str) -> Response:
    if version != VERSION:
        raise NotFoundError(f"No Swagger UI {version} here; this server has {VERSION}.")
    return send_from_directory(str(ASSETS), filename, max_age=CACHE_SECONDS)
