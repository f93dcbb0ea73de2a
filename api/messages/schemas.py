from typing import Any

from marshmallow import ValidationError, fields, validate

from api.fields import (
    CodeInterpreterTool,
    FileSearchTool,
    ListArgs,
    Metadata,
    RequestSchema,
    Tagged,
)

DETAILS = validate.OneOf(["auto", "low", "high"])
# OpenAI's cap on a message's text, in characters.
MAX_CONTENT_CHARS = 256_000


def _capped(text: str) -> None:
    if len(text) > MAX_CONTENT_CHARS:
        raise ValidationError(
            f"string too long. Expected a string with maximum length {MAX_CONTENT_CHARS}, "
            f"but got a string with length {len(text)} instead.")


class TextPart(RequestSchema):
    type = fields.String(required=True)
    text = fields.String(required=True, validate=_capped)


class ImageFile(RequestSchema):
    file_id = fields.String(required=True)
    detail = fields.String(validate=DETAILS)


class ImageFilePart(RequestSchema):
    type = fields.String(required=True)
    image_file = fields.Nested(ImageFile, required=True)


class ImageUrl(RequestSchema):
    url = fields.String(required=True, validate=validate.Regexp(
        r"^(https?://\S+|data:image/\S+)$", error="Must be an http(s) URL or an image data URL."
    ))
    detail = fields.String(validate=DETAILS)


class ImageUrlPart(RequestSchema):
    type = fields.String(required=True)
    image_url = fields.Nested(ImageUrl, required=True)


_PART = Tagged({"text": TextPart, "image_file": ImageFilePart, "image_url": ImageUrlPart})


class MessageContent(fields.Field):
    """A string, or a non-empty list of text, image_file and image_url parts."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            _capped(value)
            return value
        if not isinstance(value, list):
            raise ValidationError("Not a valid string or list of content parts.")
        if not value:
            raise ValidationError("Must hold at least one content part.")
        return fields.List(_PART).deserialize(value, attr, data, **kwargs)


class Attachment(RequestSchema):
    file_id = fields.String(required=True)
    tools = fields.List(
        Tagged({"code_interpreter": CodeInterpreterTool, "file_search": FileSearchTool})
    )


class CreateMessage(RequestSchema):
    role = fields.String(required=True, validate=validate.OneOf(["user", "assistant"]))
    content = MessageContent(required=True)
    attachments = fields.List(fields.Nested(Attachment), allow_none=True)
    metadata = Metadata()


class ModifyMessage(RequestSchema):
    metadata = Metadata()


class ListMessagesArgs(ListArgs):
    run_id = fields.String()


