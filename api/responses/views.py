from typing import Any

from flask.views import MethodView

from api import idempotency
from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import ItemIncludeArgs, ListItemsArgs
from api.responses import streaming
from api.responses.schemas import (
    CountInputTokens,
    CreateResponse,
    InputTokenCount,
    ResponseObject,
    RetrieveArgs,
)
from shared.items.wire import item_view
from shared.objects import ConversationItemObject, DeletedObject, list_schema
from shared.responses import outputs, wire
from shared.responses import service as responses
from shared.storage.pagination import PageQuery

blp = Blueprint("responses", __name__, url_prefix="/v1/responses",
                description="Responses: a model's answer to input items, executed as a run.")


def _shown(loaded: responses.Loaded, include: list[str]) -> dict[str, Any]:
    """The stored output once the response has ended; until then, what its run wrote."""
    stored = loaded.response["output"]
    output = ([item_view(item, include) for item in stored] if stored is not None
              else outputs.output_items(loaded.steps, loaded.messages_by_id, include))
    return wire.response_object(loaded.response, loaded.run, output)


@blp.route("")
class Responses(MethodView):
    @blp.arguments(CreateResponse)
    @blp.response(200, ResponseObject)
    def post(self, body: dict[str, Any]) -> Any:
        stream = bool(body.pop("stream", None))
        created = responses.create_response(project_id(), body)
        response, include = created.response, streaming.include_of(created.response)
        if stream:
            if response["store"]:
                # A retry replays it (an unstored response cannot be read again).
                idempotency.stream_answered(response["id"], "0-0")
            return streaming.sse_response(response, created.run, include, just_written=True)
        if response["background"]:
            return wire.response_object(response, created.run, [])
        answer = streaming.final_response(response, created.run, include)
        if not response["store"]:
            return answer
        # Ended: the stored output is read back, so the answer is what a retrieve shows.
        return _shown(responses.get_response_row(project_id(), response["id"]), include)


@blp.route("/input_tokens")
class InputTokens(MethodView):
    @blp.arguments(CountInputTokens)
    @blp.response(200, InputTokenCount)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The input tokens a response created with this body would send the model."""
        return responses.count_input_tokens(project_id(), body)


@blp.route("/<response_id>")
class OneResponse(MethodView):
    @blp.arguments(RetrieveArgs, location="query")
    @blp.response(200, ResponseObject)
    def get(self, args: dict[str, Any], response_id: str) -> Any:
        loaded = responses.get_response_row(project_id(), response_id)
        if args["stream"]:
            return streaming.sse_response(loaded.response, loaded.run, args["include"],
                                          args["starting_after"])
        return _shown(loaded, args["include"])

    @blp.response(200, DeletedObject)
    def delete(self, response_id: str) -> dict[str, Any]:
        return responses.delete_response(project_id(), response_id)


@blp.route("/<response_id>/cancel")
class CancelResponse(MethodView):
    @blp.arguments(ItemIncludeArgs, location="query")
    @blp.response(200, ResponseObject)
    def post(self, args: dict[str, Any], response_id: str) -> dict[str, Any]:
        return _shown(responses.cancel_response(project_id(), response_id), args["include"])


@blp.route("/<response_id>/input_items")
class InputItems(MethodView):
    @blp.arguments(ListItemsArgs, location="query")
    @blp.response(200, list_schema(ConversationItemObject))
    def get(self, args: dict[str, Any], response_id: str) -> dict[str, Any]:
        query = PageQuery(limit=args["limit"], order=args["order"], after=args.get("after"))
        return responses.list_input_items(project_id(), response_id, query,
                                          args["include"]).to_dict()
