"""The Flask app factory: validation, storage calls and nothing slower."""
from typing import Any

from flask import Flask
from flask_smorest import Api

from api import auth, errors, idempotency, requests, turns
from api.assistants.views import blp as assistants_blp
from api.console.views import blp as console_blp
from api.conversations.views import blp as conversations_blp
from api.docs import views as docs_views
from api.files.views import blp as files_blp
from api.health.views import blp as health_blp
from api.messages.views import blp as messages_blp
from api.metrics import views as metrics_views
from api.responses.views import blp as responses_blp
from api.runs.views import blp as runs_blp
from api.status.views import blp as status_blp
from api.threads.views import blp as threads_blp
from api.vector_stores.views import blp as vector_stores_blp
from shared.config import get_settings
from shared.objects import ErrorObject


class _Api(Api):
    # Document errors in the shape api/errors.py renders, not flask-smorest's own.
    ERROR_SCHEMA = ErrorObject


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask("treadle")
    app.config.update(
        API_TITLE="Treadle",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Served by this app (api/docs), never a CDN; no online validator badge either.
        OPENAPI_SWAGGER_UI_URL=docs_views.URL,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(config or {})

    api = _Api(app)
    for blueprint in (health_blp, assistants_blp, threads_blp, runs_blp, messages_blp,
                      files_blp, vector_stores_blp, status_blp, conversations_blp,
                      responses_blp):
        api.register_blueprint(blueprint)
    api.register_blueprint(metrics_views.blp)
    app.register_blueprint(docs_views.blp)
    app.register_blueprint(console_blp)

    app.before_request(metrics_views.start_timer)
    app.before_request(requests.assign_request_id)
    app.before_request(auth.authenticate)
    app.before_request(requests.check_content_type)
    app.before_request(requests.limit_body_size)
    app.before_request(turns.take)
    app.before_request(idempotency.claim_key)
    # After-request functions run last registered first: the turn is given back last.
    app.after_request(turns.give_back)
    app.after_request(idempotency.keep_answer)
    app.after_request(requests.add_request_id)
    app.after_request(metrics_views.record_request)
    app.teardown_request(turns.give_back_on_teardown)
    app.teardown_request(requests.yield_to_other_connections)
    errors.register(app)
    app.wsgi_app = requests.BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, get_settings().api_body_timeout_seconds)
    return app
