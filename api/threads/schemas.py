from marshmallow import Schema, fields

from api.fields import Metadata, ToolResources
from api.messages.schemas import CreateMessage


class CreateThread(Schema):
    messages = fields.List(fields.Nested(CreateMessage))
    tool_resources = fields.Nested(ToolResources, allow_none=True)
    metadata = Metadata()


class ModifyThread(Schema):
    tool_resources = fields.Nested(ToolResources, allow_none=True)
    metadata = Metadata()
