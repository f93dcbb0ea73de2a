from marshmallow import fields, validate

from api.fields import (
    REASONING_EFFORTS,
    TOOL_SCHEMAS,
    ListArgs,
    Metadata,
    Number,
    RequestSchema,
    ResponseFormat,
    StringOr,
    Tagged,
    ToolResources,
)
from api.messages.schemas import CreateMessage
from api.threads.schemas import CreateThread
from shared.runs.steps import SEARCH_CONTENT


class TruncationStrategy(RequestSchema):
    type = fields.String(required=True, validate=validate.OneOf(["auto", "last_messages"]))
    last_messages = fields.Integer(allow_none=True, strict=True,
                                   validate=validate.Range(min=1))


class NamedFunction(RequestSchema):
    name = fields.String(required=True)


class NamedFunctionChoice(RequestSchema):
    type = fields.String(required=True)
    function = fields.Nested(NamedFunction, required=True)


class NamedToolChoice(RequestSchema):
    type = fields.String(required=True)


def ToolChoice() -> StringOr:
    return StringOr(("none", "auto", "required"), Tagged({
        "function": NamedFunctionChoice,
        "file_search": NamedToolChoice,
        "code_interpreter": NamedToolChoice,
    }), allow_none=True)


class _RunOptions(RequestSchema):
    assistant_id = fields.String(required=True)
    model = fields.String(allow_none=True, validate=validate.Length(min=1))
    reasoning_effort = fields.String(allow_none=True, validate=validate.OneOf(REASONING_EFFORTS))
    instructions = fields.String(allow_none=True, validate=validate.Length(max=256_000))
    tools = fields.List(Tagged(TOOL_SCHEMAS), allow_none=True, validate=validate.Length(max=20))
    metadata = Metadata()
    temperature = Number(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = Number(allow_none=True, validate=validate.Range(min=0, max=1))
    stream = fields.Boolean(allow_none=True)
    max_prompt_tokens = fields.Integer(allow_none=True, strict=True,
                                       validate=validate.Range(min=256))
    max_completion_tokens = fields.Integer(allow_none=True, strict=True,
                                           validate=validate.Range(min=256))
    truncation_strategy = fields.Nested(TruncationStrategy, allow_none=True)
    tool_choice = ToolChoice()
    parallel_tool_calls = fields.Boolean(allow_none=True)
    response_format = ResponseFormat()


class CreateRun(_RunOptions):
    additional_instructions = fields.String(allow_none=True,
                                            validate=validate.Length(max=256_000))
    additional_messages = fields.List(fields.Nested(CreateMessage), allow_none=True)


class CreateThreadAndRun(_RunOptions):
    thread = fields.Nested(CreateThread)
    tool_resources = fields.Nested(ToolResources, allow_none=True)


class ModifyRun(RequestSchema):
    metadata = Metadata()


class ToolOutput(RequestSchema):
    tool_call_id = fields.String(required=True)
    output = fields.String(load_default="")


class SubmitToolOutputs(RequestSchema):
    tool_outputs = fields.List(fields.Nested(ToolOutput), required=True)
    stream = fields.Boolean(allow_none=True)


def _include() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf([SEARCH_CONTENT])),
                       data_key="include[]", load_default=list)


class IncludeArgs(RequestSchema):
    include = _include()


class ListStepsArgs(ListArgs):
    include = _include()


