"""Wire shapes of the objects Treadle returns, shared by the API and the workers.

Rows from the repositories carry the spec's field names; these schemas pick exactly the
spec's fields from them, so a column added for internal use never leaks onto the wire.
"""
from functools import cache
from typing import Any

from marshmallow import Schema, fields, post_dump

from shared.runs.states import TERMINAL


class _Object(Schema):
    id = fields.String(required=True)
    created_at = fields.Integer(required=True)


class AssistantObject(_Object):
    object = fields.Constant("assistant")
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    model = fields.String()
    instructions = fields.String(allow_none=True)
    tools = fields.List(fields.Dict())
    tool_resources = fields.Dict(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String())
    temperature = fields.Float(allow_none=True)
    top_p = fields.Float(allow_none=True)
    response_format = fields.Raw(allow_none=True)
    reasoning_effort = fields.String(allow_none=True)


class ThreadObject(_Object):
    object = fields.Constant("thread")
    tool_resources = fields.Dict(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class MessageObject(_Object):
    object = fields.Constant("thread.message")
    thread_id = fields.String()
    status = fields.String()
    incomplete_details = fields.Dict(allow_none=True)
    completed_at = fields.Integer(allow_none=True)
    incomplete_at = fields.Integer(allow_none=True)
    role = fields.String()
    content = fields.List(fields.Dict())
    assistant_id = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    attachments = fields.List(fields.Dict(), allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class FileObject(_Object):
    object = fields.Constant("file")
    bytes = fields.Integer()
    filename = fields.String()
    purpose = fields.String()
    status = fields.String()
    status_details = fields.String(allow_none=True)
    expires_at = fields.Integer(allow_none=True)

    @post_dump
    def _omit_unset(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The spec types these as plain values, never null: absent when they do not apply.
        for key in ("status_details", "expires_at"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class DeletedObject(Schema):
    id = fields.String(required=True)
    object = fields.String(required=True)
    deleted = fields.Boolean(required=True)


class ErrorDetail(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    param = fields.String(allow_none=True)
    code = fields.String(allow_none=True)


class ErrorObject(Schema):
    error = fields.Nested(ErrorDetail, required=True)


@cache
def list_schema(item: type[Schema]) -> type[Schema]:
    """The list envelope around `item`, named for the OpenAPI document."""
    name = item.__name__.removesuffix("Object") + "List"
    attrs: dict[str, Any] = {
        "object": fields.Constant("list"),
        "data": fields.List(fields.Nested(item)),
        "first_id": fields.String(allow_none=True),
        "last_id": fields.String(allow_none=True),
        "has_more": fields.Boolean(),
    }
    return type(name, (Schema,), attrs)


def deleted(object_id: str, object_name: str) -> dict[str, Any]:
    return {"id": object_id, "object": object_name, "deleted": True}


class RunObject(_Object):
    object = fields.Constant("thread.run")
    thread_id = fields.String()
    assistant_id = fields.String()
    status = fields.String()
    required_action = fields.Dict(allow_none=True)
    last_error = fields.Dict(allow_none=True)
    expires_at = fields.Integer(allow_none=True)
    started_at = fields.Integer(allow_none=True)
    cancelled_at = fields.Integer(allow_none=True)
    failed_at = fields.Integer(allow_none=True)
    completed_at = fields.Integer(allow_none=True)
    incomplete_details = fields.Dict(allow_none=True)
    model = fields.String()
    instructions = fields.String()
    tools = fields.List(fields.Dict())
    metadata = fields.Dict(keys=fields.String(), values=fields.String())
    usage = fields.Dict(allow_none=True)
    temperature = fields.Float(allow_none=True)
    top_p = fields.Float(allow_none=True)
    max_prompt_tokens = fields.Integer(allow_none=True)
    max_completion_tokens = fields.Integer(allow_none=True)
    truncation_strategy = fields.Dict()
    tool_choice = fields.Raw()
    parallel_tool_calls = fields.Boolean()
    response_format = fields.Raw()

    @post_dump
    def _usage_when_ended(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The spec's usage is null until the run ends. The row keeps counting across a
        requires_action park (the run loop reads it back), so it is hidden here, not erased."""
        if "usage" in data and data.get("status") not in TERMINAL:
            data["usage"] = None
        return data


class RunStepObject(_Object):
    object = fields.Constant("thread.run.step")
    assistant_id = fields.String()
    thread_id = fields.String()
    run_id = fields.String()
    type = fields.String()
    status = fields.String()
    step_details = fields.Dict()
    last_error = fields.Dict(allow_none=True)
    expired_at = fields.Integer(allow_none=True)
    cancelled_at = fields.Integer(allow_none=True)
    failed_at = fields.Integer(allow_none=True)
    completed_at = fields.Integer(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String())
    usage = fields.Dict(allow_none=True)

    @post_dump
    def _public_details(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Tool calls keep what the model saw under `_` keys; those never go out."""
        details = data.get("step_details")
        if details and details.get("type") == "tool_calls":
            data["step_details"] = {**details, "tool_calls": [
                _public(call) for call in details["tool_calls"]]}
        return data

    @post_dump
    def _usage_when_settled(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The spec's step usage is null while the step is in progress; a tool step parked
        for function outputs already holds its model call's usage in its row."""
        if "usage" in data and data.get("status") == "in_progress":
            data["usage"] = None
        return data


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


class FileCounts(Schema):
    in_progress = fields.Integer()
    completed = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()
    total = fields.Integer()


class VectorStoreObject(_Object):
    object = fields.Constant("vector_store")
    name = fields.String()
    usage_bytes = fields.Integer()
    file_counts = fields.Nested(FileCounts)
    status = fields.String()
    expires_after = fields.Dict(allow_none=True)
    expires_at = fields.Integer(allow_none=True)
    last_active_at = fields.Integer(allow_none=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String())

    @post_dump
    def _omit_unset(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The spec has no null for expires_after: absent when the store never expires.
        if data.get("expires_after") is None:
            data.pop("expires_after", None)
        return data


class VectorStoreFileObject(_Object):
    object = fields.Constant("vector_store.file")
    usage_bytes = fields.Integer()
    vector_store_id = fields.String()
    status = fields.String()
    last_error = fields.Dict(allow_none=True)
    chunking_strategy = fields.Dict()
    attributes = fields.Dict(allow_none=True)


class VectorStoreFileBatchObject(_Object):
    object = fields.Constant("vector_store.files_batch")
    vector_store_id = fields.String()
    status = fields.String()
    file_counts = fields.Nested(FileCounts)


class ConversationObject(_Object):
    object = fields.Constant("conversation")
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class ConversationItemObject(Schema):
    """An item of a conversation. Its fields depend on its `type` (the shapes of
    `shared/items/`), so the whole item goes out; the fields declared are those every item
    has, for the OpenAPI document."""
    id = fields.String(required=True)
    type = fields.String(required=True)

    @post_dump(pass_original=True)
    def _whole_item(self, data: dict[str, Any], original: dict[str, Any],
                    **kwargs: Any) -> dict[str, Any]:
        return dict(original)


class ContentPart(Schema):
    type = fields.Constant("text")
    text = fields.String()


class VectorStoreFileContentPage(Schema):
    object = fields.Constant("vector_store.file_content.page")
    data = fields.List(fields.Nested(ContentPart))
    has_more = fields.Boolean()
    next_page = fields.String(allow_none=True)


RUN = RunObject()
STEP = RunStepObject()
MESSAGE = MessageObject()
THREAD = ThreadObject()
