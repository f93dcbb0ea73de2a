from typing import Any

from flask.views import MethodView

from api.blueprint import Blueprint
from shared.errors import ServiceUnavailableError
from shared.storage import db
from shared.storage.redis import ping_now

blp = Blueprint("health", __name__, description="Liveness and readiness for orchestrators.")


@blp.route("/health")
class Health(MethodView):
    def get(self) -> dict[str, Any]:
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    def get(self) -> dict[str, Any]:
        checks: dict[str, str] = {}
        # Each answers within about a second while its service is away: Postgres through
        # the pool's timeout, Redis with one try rather than riding out a restart.
        try:
            db.ping()
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {exc}"
        try:
            ping_now()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc}"
        if any(v != "ok" for v in checks.values()):
            raise ServiceUnavailableError(f"Not ready: {checks}")
        return {"status": "ok", "checks": checks}
