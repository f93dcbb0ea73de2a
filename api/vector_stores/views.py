from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import ListArgs, page_query
from api.vector_stores.schemas import (
    CreateFileBatch,
    CreateVectorStore,
    CreateVectorStoreFile,
    ListVectorStoreFilesArgs,
    ModifyVectorStore,
    Search,
    UpdateAttributes,
)
from shared.objects import (
    DeletedObject,
    VectorStoreFileBatchObject,
    VectorStoreFileContentPage,
    VectorStoreFileObject,
    VectorStoreObject,
    list_schema,
)
from shared.vector_stores import batches, files, search, stores

blp = Blueprint("vector_stores", __name__, url_prefix="/v1/vector_stores",
                description="Vector stores: files parsed, chunked and indexed for file_search.")


@blp.route("")
class VectorStores(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, list_schema(VectorStoreObject))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        return stores.list_vector_stores(project_id(), page_query(args)).to_dict()

    @blp.arguments(CreateVectorStore)
    @blp.response(200, VectorStoreObject)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        return stores.create_vector_store(project_id(), body)


@blp.route("/<vector_store_id>")
class VectorStore(MethodView):
    @blp.response(200, VectorStoreObject)
    def get(self, vector_store_id: str) -> dict[str, Any]:
        return stores.get_vector_store(project_id(), vector_store_id)

    @blp.arguments(ModifyVectorStore)
    @blp.response(200, VectorStoreObject)
    def post(self, body: dict[str, Any], vector_store_id: str) -> dict[str, Any]:
        return stores.modify_vector_store(project_id(), vector_store_id, body)

    @blp.response(200, DeletedObject)
    def delete(self, vector_store_id: str) -> dict[str, Any]:
        return stores.delete_vector_store(project_id(), vector_store_id)


@blp.route("/<vector_store_id>/search")
class SearchStore(MethodView):
    @blp.arguments(Search)
    def post(self, body: dict[str, Any], vector_store_id: str) -> dict[str, Any]:
        return search.search(project_id(), vector_store_id, body)


@blp.route("/<vector_store_id>/files")
class Files(MethodView):
    @blp.arguments(ListVectorStoreFilesArgs, location="query")
    @blp.response(200, list_schema(VectorStoreFileObject))
    def get(self, args: dict[str, Any], vector_store_id: str) -> dict[str, Any]:
        return files.list_files(project_id(), vector_store_id, page_query(args),
                                        status=args.get("filter")).to_dict()

    @blp.arguments(CreateVectorStoreFile)
    @blp.response(200, VectorStoreFileObject)
    def post(self, body: dict[str, Any], vector_store_id: str) -> dict[str, Any]:
        return files.add_file(project_id(), vector_store_id, body)


@blp.route("/<vector_store_id>/files/<file_id>")
class File(MethodView):
    @blp.response(200, VectorStoreFileObject)
    def get(self, vector_store_id: str, file_id: str) -> dict[str, Any]:
        return files.get_file(project_id(), vector_store_id, file_id)

    @blp.arguments(UpdateAttributes)
    @blp.response(200, VectorStoreFileObject)
    def post(self, body: dict[str, Any], vector_store_id: str, file_id: str) -> dict[str, Any]:
        return files.update_file_attributes(project_id(), vector_store_id, file_id,
                                                    body["attributes"])

    @blp.response(200, DeletedObject)
    def delete(self, vector_store_id: str, file_id: str) -> dict[str, Any]:
        return files.remove_file(project_id(), vector_store_id, file_id)


@blp.route("/<vector_store_id>/files/<file_id>/content")
class FileContent(MethodView):
    @blp.doc(responses={"200": {
        "description": "The parsed text of the file, as a vector_store.file_content.page",
        "content": {"application/json": {"schema": VectorStoreFileContentPage}}}})
    def get(self, vector_store_id: str, file_id: str) -> Response:
        page = files.file_content(project_id(), vector_store_id, file_id)
        return Response(stream_with_context(page), mimetype="application/json")


@blp.route("/<vector_store_id>/file_batches")
class Batches(MethodView):
    @blp.arguments(CreateFileBatch)
    @blp.response(200, VectorStoreFileBatchObject)
    def post(self, body: dict[str, Any], vector_store_id: str) -> dict[str, Any]:
        return batches.create_batch(project_id(), vector_store_id, body)


@blp.route("/<vector_store_id>/file_batches/<batch_id>")
class Batch(MethodView):
    @blp.response(200, VectorStoreFileBatchObject)
    def get(self, vector_store_id: str, batch_id: str) -> dict[str, Any]:
        return batches.get_batch(project_id(), vector_store_id, batch_id)


@blp.route("/<vector_store_id>/file_batches/<batch_id>/cancel")
class CancelBatch(MethodView):
    @blp.response(200, VectorStoreFileBatchObject)
    def post(self, vector_store_id: str, batch_id: str) -> dict[str, Any]:
        return batches.cancel_batch(project_id(), vector_store_id, batch_id)


@blp.route("/<vector_store_id>/file_batches/<batch_id>/files")
class BatchFiles(MethodView):
    @blp.arguments(ListVectorStoreFilesArgs, location="query")
    @blp.response(200, list_schema(VectorStoreFileObject))
    def get(self, args: dict[str, Any], vector_store_id: str, batch_id: str) -> dict[str, Any]:
        return files.list_files(project_id(), vector_store_id, page_query(args),
                                        status=args.get("filter"), batch_id=batch_id).to_dict()
