from typing import Any
from urllib.parse import quote

from flask import Response, stream_with_context
from flask.views import MethodView

from api.auth import project_id
from api.blueprint import Blueprint
from api.fields import page_query
from api.files.schemas import ListFilesArgs, UploadFile, UploadForm
from shared.files import service as files
from shared.objects import DeletedObject, FileObject, list_schema

blp = Blueprint("files", __name__, url_prefix="/v1/files",
                description="Files: uploaded bytes for tools and messages.")


@blp.route("")
class Files(MethodView):
    @blp.arguments(ListFilesArgs, location="query")
    @blp.response(200, list_schema(FileObject))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        query = page_query({**args, "before": None})
        return files.list_files(project_id(), query, args.get("purpose")).to_dict()

    @blp.arguments(UploadForm, location="form")
    @blp.arguments(UploadFile, location="files")
    @blp.response(200, FileObject)
    def post(self, form: dict[str, Any], upload: dict[str, Any]) -> dict[str, Any]:
        storage = upload["file"]
        expires = None
        if "expires_after_seconds" in form:
            expires = {"anchor": "created_at", "seconds": form["expires_after_seconds"]}
        return files.create_file(
            project_id(), storage.stream, storage.filename or "upload", form["purpose"], expires
        )


@blp.route("/<file_id>")
class File(MethodView):
    @blp.response(200, FileObject)
    def get(self, file_id: str) -> dict[str, Any]:
        return files.get_file(project_id(), file_id)

    @blp.response(200, DeletedObject)
    def delete(self, file_id: str) -> dict[str, Any]:
        return files.delete_file(project_id(), file_id)


@blp.route("/<file_id>/content")
class FileContent(MethodView):
    @blp.doc(responses={"200": {"description": "The file's bytes",
                                "content": {"application/octet-stream": {}}}})
    def get(self, file_id: str) -> Response:
        file, chunks = files.file_content(project_id(), file_id)
        return Response(
            stream_with_context(chunks),
            mimetype="application/octet-stream",
            headers={
                "Content-Length": str(file["bytes"]),
                "Content-Disposition": "attachment; filename*=UTF-8''" + quote(file["filename"]),
            },
        )
