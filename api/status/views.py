from typing import Any

from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.status.schemas import StatusObject
from shared.platform import health

blp = Blueprint("status", __name__, url_prefix="/v1/status",
                description="The project's runs and the deployment's health (extension).")


@blp.route("")
class Status(MethodView):
    @blp.doc(summary="The project's runs by status and the deployment's health "
                     "(Treadle extension)",
             description="What `treadle status` reports: Postgres, Redis and the broker, "
                         "pending migrations, tasks waiting per queue, workers answering a "
                         "ping, runs in flight and capacity per runs worker, the ingest "
                         "backlog; and the key's project's runs by status (no other "
                         "project's). Answers within about 1.5 s whatever is down: what could "
                         "not be read is null, with the reason in `errors`. The deployment's "
                         "facts are read at most every few seconds per API process.")
    @blp.response(200, StatusObject)
    def get(self) -> dict[str, Any]:
        return health.project_status(project_id())
