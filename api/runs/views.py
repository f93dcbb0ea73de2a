from typing import Any

from flask import Response, request
from flask.views import MethodView

from api import idempotency
from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import ListArgs, page_query
from api.runs.schemas import (
    CreateRun,
    CreateThreadAndRun,
    IncludeArgs,
    ListStepsArgs,
    ModifyRun,
    SubmitToolOutputs,
)
from api.streaming import sse_response
from shared.config import get_settings
from shared.objects import RunObject, RunStepObject, list_schema
from shared.runs import events
from shared.runs import service as runs

blp = Blueprint("runs", __name__, url_prefix="/v1/threads",
                description="Runs: an assistant executed on a thread, and its steps.")


@blp.after_request
def _poll_after(response: Response) -> Response:
    # The SDK's pollers sleep this long between polls (a full second without it).
    response.headers["openai-poll-after-ms"] = str(get_settings().poll_after_ms)
    return response


def _answer(created: runs.Created, stream: bool | None) -> Any:
    if stream:
        try:
            idempotency.stream_answered(created.run["id"], created.stream_after)
            return sse_response(created.run["id"], created.stream_after, just_written=True,
                                expected=created.expected)
        except BaseException:
            if created.expected is not None:
                created.expected.leave()
            raise
    return created.run


@blp.route("/runs")
class ThreadAndRun(MethodView):
    @blp.arguments(CreateThreadAndRun)
    @blp.response(200, RunObject)
    def post(self, body: dict[str, Any]) -> Any:
        return _answer(runs.create_thread_and_run(project_id(), body), body.get("stream"))


@blp.route("/<thread_id>/runs")
class Runs(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, list_schema(RunObject))
    def get(self, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
        return runs.list_runs(project_id(), thread_id, page_query(args)).to_dict()

    @blp.arguments(IncludeArgs, location="query")
    @blp.arguments(CreateRun)
    @blp.response(200, RunObject)
    def post(self, args: dict[str, Any], body: dict[str, Any], thread_id: str) -> Any:
        fields = {**body, "include": args["include"]}
        return _answer(runs.create_run(project_id(), thread_id, fields), body.get("stream"))


@blp.route("/<thread_id>/runs/<run_id>")
class Run(MethodView):
    @blp.response(200, RunObject)
    def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return runs.get_run(project_id(), thread_id, run_id)

    @blp.arguments(ModifyRun)
    @blp.response(200, RunObject)
    def post(self, body: dict[str, Any], thread_id: str, run_id: str) -> dict[str, Any]:
        return runs.modify_run(project_id(), thread_id, run_id, body)


@blp.route("/<thread_id>/runs/<run_id>/cancel")
class CancelRun(MethodView):
    @blp.response(200, RunObject)
    def post(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return runs.cancel_run(project_id(), thread_id, run_id)


@blp.route("/<thread_id>/runs/<run_id>/submit_tool_outputs")
class SubmitOutputs(MethodView):
    @blp.arguments(SubmitToolOutputs)
    @blp.response(200, RunObject)
    def post(self, body: dict[str, Any], thread_id: str, run_id: str) -> Any:
        created = runs.submit_tool_outputs(project_id(), thread_id, run_id,
                                           body["tool_outputs"])
        return _answer(created, body.get("stream"))


@blp.route("/<thread_id>/runs/<run_id>/events")
class RunEvents(MethodView):
    @blp.doc(summary="Replay and follow a run's events (Treadle extension)",
             description="Server-sent events of the run from its first event, or after the "
                         "`Last-Event-ID` header, followed live until the run ends.")
    def get(self, thread_id: str, run_id: str) -> Response:
        runs.get_run(project_id(), thread_id, run_id)
        after = events.cursor(request.headers.get("Last-Event-ID") or "0-0")
        return sse_response(run_id, after, until_terminal=True)


@blp.route("/<thread_id>/runs/<run_id>/steps")
class Steps(MethodView):
    @blp.arguments(ListStepsArgs, location="query")
    @blp.response(200, list_schema(RunStepObject))
    def get(self, args: dict[str, Any], thread_id: str, run_id: str) -> dict[str, Any]:
        return runs.list_steps(project_id(), thread_id, run_id, page_query(args),
                               args["include"]).to_dict()


@blp.route("/<thread_id>/runs/<run_id>/steps/<step_id>")
class Step(MethodView):
    @blp.arguments(IncludeArgs, location="query")
    @blp.response(200, RunStepObject)
    def get(self, args: dict[str, Any], thread_id: str, run_id: str,
            step_id: str) -> dict[str, Any]:
        return runs.get_step(project_id(), thread_id, run_id, step_id, args["include"])
