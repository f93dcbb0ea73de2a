from typing import Any

from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.conversations.schemas import (
    CreateConversation,
    CreateItems,
    ModifyConversation,
)
from api.fields import ItemIncludeArgs, ListItemsArgs, page_query
from shared.conversations import service as conversations
from shared.objects import (
    ConversationItemObject,
    ConversationObject,
    DeletedObject,
    list_schema,
)

blp = Blueprint("conversations", __name__, url_prefix="/v1/conversations",
                description="Conversations: ordered items that responses read and extend.")


@blp.route("")
class Conversations(MethodView):
    @blp.arguments(CreateConversation)
    @blp.response(200, ConversationObject)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        return conversations.create_conversation(project_id(), body)


@blp.route("/<conversation_id>")
class Conversation(MethodView):
    @blp.response(200, ConversationObject)
    def get(self, conversation_id: str) -> dict[str, Any]:
        return conversations.get_conversation(project_id(), conversation_id)

    @blp.arguments(ModifyConversation)
    @blp.response(200, ConversationObject)
    def post(self, body: dict[str, Any], conversation_id: str) -> dict[str, Any]:
        return conversations.modify_conversation(project_id(), conversation_id, body)

    @blp.response(200, DeletedObject)
    def delete(self, conversation_id: str) -> dict[str, Any]:
        return conversations.delete_conversation(project_id(), conversation_id)


@blp.route("/<conversation_id>/items")
class Items(MethodView):
    @blp.arguments(ListItemsArgs, location="query")
    @blp.response(200, list_schema(ConversationItemObject))
    def get(self, args: dict[str, Any], conversation_id: str) -> dict[str, Any]:
        return conversations.list_items(project_id(), conversation_id, page_query(args),
                                        args["include"]).to_dict()

    @blp.arguments(ItemIncludeArgs, location="query")
    @blp.arguments(CreateItems)
    @blp.response(200, list_schema(ConversationItemObject))
    def post(self, args: dict[str, Any], body: dict[str, Any], conversation_id: str
             ) -> dict[str, Any]:
        return conversations.create_items(project_id(), conversation_id, body["items"],
                                          args["include"]).to_dict()


@blp.route("/<conversation_id>/items/<item_id>")
class Item(MethodView):
    @blp.arguments(ItemIncludeArgs, location="query")
    @blp.response(200, ConversationItemObject)
    def get(self, args: dict[str, Any], conversation_id: str, item_id: str) -> dict[str, Any]:
        return conversations.get_item(project_id(), conversation_id, item_id, args["include"])

    @blp.response(200, ConversationObject)
    def delete(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        return conversations.delete_item(project_id(), conversation_id, item_id)
