"""`GET /metrics`: the deployment's figures in Prometheus' text format, and the request
hooks that feed the API's share of them."""
import time

from flask import Response, g, request
from flask.views import MethodView
from prometheus_client import CONTENT_TYPE_LATEST

from api.blueprint import Blueprint
from shared.platform import metrics

blp = Blueprint("metrics", __name__, description="Prometheus metrics of the whole deployment.")


@blp.route("/metrics")
class Metrics(MethodView):
    def get(self) -> Response:
        return Response(metrics.render(), mimetype=CONTENT_TYPE_LATEST)


def start_timer() -> None:
    g.started = time.perf_counter()


def record_request(response: Response) -> Response:
    started = g.get("started")
    if started is not None:
        # The route template, not the path, so ids do not make a series each.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.observe_request(request.method, route, response.status_code,
                                time.perf_counter() - started)
    return response
