from marshmallow import fields

from api.fields import Metadata, RequestSchema, ToolResources
from api.messages.schemas import CreateMessage


class CreateThread(RequestSchema):
    messages = fields.List(fields.Nested(CreateMessage))
    tool_resources = fields.Nested(ToolResources, allow_none=True)
    metadata = Metadata()


class ModifyThread(RequestSchema):
    tool_resources = fields.Nested(ToolResources, allow_none=True)
    metadata = Metadata()
