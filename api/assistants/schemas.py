from marshmallow import fields, validate

from api.fields import (
    REASONING_EFFORTS,
    Metadata,
    Number,
    RequestSchema,
    ResponseFormat,
    ToolResources,
    Tools,
)


class _AssistantFields(RequestSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=256))
    description = fields.String(allow_none=True, validate=validate.Length(max=512))
    instructions = fields.String(allow_none=True, validate=validate.Length(max=256_000))
    reasoning_effort = fields.String(allow_none=True, validate=validate.OneOf(REASONING_EFFORTS))
    tools = Tools()
    tool_resources = fields.Nested(ToolResources, allow_none=True)
    metadata = Metadata()
    temperature = Number(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = Number(allow_none=True, validate=validate.Range(min=0, max=1))
    response_format = ResponseFormat()


class CreateAssistant(_AssistantFields):
    model = fields.String(required=True, validate=validate.Length(min=1))


class ModifyAssistant(_AssistantFields):
    model = fields.String(validate=validate.Length(min=1))
