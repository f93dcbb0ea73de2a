from typing import Any

from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import ListArgs, page_query
from api.threads.schemas import CreateThread, ModifyThread
from shared.objects import DeletedObject, ThreadObject, list_schema
from shared.threads import service as threads

blp = Blueprint("threads", __name__, url_prefix="/v1/threads",
                description="Threads: conversations that hold messages.")


@blp.route("")
class Threads(MethodView):
    @blp.doc(summary="List threads (Treadle extension)",
             description="The key's project's threads, newest first by default, paged as "
                         "every other list is (`limit`, `order`, `after`, `before`). OpenAI's "
                         "API has no thread list.")
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, list_schema(ThreadObject))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        return threads.list_threads(project_id(), page_query(args)).to_dict()

    @blp.arguments(CreateThread)
    @blp.response(200, ThreadObject)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        return threads.create_thread(project_id(), body)


@blp.route("/<thread_id>")
class Thread(MethodView):
    @blp.response(200, ThreadObject)
    def get(self, thread_id: str) -> dict[str, Any]:
        return threads.get_thread(project_id(), thread_id)

    @blp.arguments(ModifyThread)
    @blp.response(200, ThreadObject)
    def post(self, body: dict[str, Any], thread_id: str) -> dict[str, Any]:
        return threads.modify_thread(project_id(), thread_id, body)

    @blp.response(200, DeletedObject)
    def delete(self, thread_id: str) -> dict[str, Any]:
        return threads.delete_thread(project_id(), thread_id)
