from typing import Any

from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import page_query
from api.messages.schemas import CreateMessage, ListMessagesArgs, ModifyMessage
from shared.messages import service as messages
from shared.objects import DeletedObject, MessageObject, list_schema

blp = Blueprint("messages", __name__, url_prefix="/v1/threads/<thread_id>/messages",
                description="Messages on a thread.")


@blp.route("")
class Messages(MethodView):
    @blp.arguments(ListMessagesArgs, location="query")
    @blp.response(200, list_schema(MessageObject))
    def get(self, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
        query = page_query(args)
        return messages.list_messages(project_id(), thread_id, query, args.get("run_id")).to_dict()

    @blp.arguments(CreateMessage)
    @blp.response(200, MessageObject)
    def post(self, body: dict[str, Any], thread_id: str) -> dict[str, Any]:
        return messages.create_message(project_id(), thread_id, body)


@blp.route("/<message_id>")
class Message(MethodView):
    @blp.response(200, MessageObject)
    def get(self, thread_id: str, message_id: str) -> dict[str, Any]:
        return messages.get_message(project_id(), thread_id, message_id)

    @blp.arguments(ModifyMessage)
    @blp.response(200, MessageObject)
    def post(self, body: dict[str, Any], thread_id: str, message_id: str) -> dict[str, Any]:
        return messages.modify_message(project_id(), thread_id, message_id, body)

    @blp.response(200, DeletedObject)
    def delete(self, thread_id: str, message_id: str) -> dict[str, Any]:
        return messages.delete_message(project_id(), thread_id, message_id)
