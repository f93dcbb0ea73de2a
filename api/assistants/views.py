from typing import Any

from flask.views import MethodView

from api.assistants.schemas import CreateAssistant, ModifyAssistant
from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import ListArgs, page_query
from shared.assistants import service as assistants
from shared.objects import AssistantObject, DeletedObject, list_schema

blp = Blueprint("assistants", __name__, url_prefix="/v1/assistants",
                description="Assistants: a model, instructions and tools.")


@blp.route("")
class Assistants(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, list_schema(AssistantObject))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        return assistants.list_assistants(project_id(), page_query(args)).to_dict()

    @blp.arguments(CreateAssistant)
    @blp.response(200, AssistantObject)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        return assistants.create_assistant(project_id(), body)


@blp.route("/<assistant_id>")
class Assistant(MethodView):
    @blp.response(200, AssistantObject)
    def get(self, assistant_id: str) -> dict[str, Any]:
        return assistants.get_assistant(project_id(), assistant_id)

    @blp.arguments(ModifyAssistant)
    @blp.response(200, AssistantObject)
    def post(self, body: dict[str, Any], assistant_id: str) -> dict[str, Any]:
        return assistants.modify_assistant(project_id(), assistant_id, body)

    @blp.response(200, DeletedObject)
    def delete(self, assistant_id: str) -> dict[str, Any]:
        return assistants.delete_assistant(project_id(), assistant_id)
