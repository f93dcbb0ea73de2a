from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_dump, validate

from api.fields import RequestSchema, item_include


class JsonBoolean(fields.Boolean):
    """JSON's true or false only (marshmallow's Boolean also takes 1, "yes", "on"...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Checked(fields.Raw):
    """A field `shared/responses` checks, null included: a null is a field left out, as
    OpenAI takes it (the SDK sends a None it is given)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)


class _ResponseBody(RequestSchema):
    """What a create and a token count both take. Every field is checked by
    `shared/responses` (which names the field of a bad value and refuses unknown ones); the
    fields listed are the ones the OpenAPI document shows."""

    class Meta:
        unknown = INCLUDE

    input = Checked(metadata={"description": "Text, or an array of input items."})
    instructions = Checked()
    previous_response_id = Checked()
    conversation = Checked()
    tools = Checked()
    tool_choice = Checked()
    text = Checked()


class CreateResponse(_ResponseBody):
    """Every field but `stream` is checked by `shared/responses`."""

    model = Checked(metadata={"description": "The model, or the prompt bridge's."})
    include = Checked()
    metadata = Checked()
    background = Checked()
    store = Checked()
    prompt = Checked(metadata={"description": "`{\"id\": \"asst_...\"}` runs with an "
                                                 "assistant's configuration (Treadle)."})
    stream = JsonBoolean(allow_none=True)


class CountInputTokens(_ResponseBody):
    model = Checked(metadata={"description": "The model (the count does not depend on it)."})
    parallel_tool_calls = Checked()
    reasoning = Checked()
    truncation = Checked()


class InputTokenCount(Schema):
    object = fields.Constant("response.input_tokens")
    input_tokens = fields.Integer(required=True)


class RetrieveArgs(RequestSchema):
    include = item_include()
    stream = fields.Boolean(load_default=False)
    starting_after = fields.Integer(load_default=-1, validate=validate.Range(min=-1))
    include_obfuscation = fields.Boolean()




class ResponseObject(Schema):
    """A response as `shared/responses/wire` makes it: the whole object goes out; the fields
    declared are for the OpenAPI document."""
    id = fields.String(required=True)
    object = fields.Constant("response")
    created_at = fields.Integer()
    status = fields.String()
    model = fields.String()
    output = fields.List(fields.Dict())
    error = fields.Dict(allow_none=True)
    incomplete_details = fields.Dict(allow_none=True)
    usage = fields.Dict(allow_none=True)

    @post_dump(pass_original=True)
    def _whole(self, data: dict[str, Any], original: dict[str, Any],
               **kwargs: Any) -> dict[str, Any]:
        return dict(original)
