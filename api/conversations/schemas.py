from typing import Any

from marshmallow import ValidationError, fields

from api.fields import Metadata, RequestSchema

# OpenAI's cap on the items of one request.
MAX_ITEMS = 20


def _at_most_twenty(items: list[Any]) -> None:
    if len(items) > MAX_ITEMS:
        raise ValidationError(
            f"array too long. Expected an array with maximum length {MAX_ITEMS}, but got an "
            f"array with length {len(items)} instead.")


def _items(**kwargs: Any) -> fields.List:
    """Each item is checked, field by field, by `shared/items/inputs.py`."""
    return fields.List(fields.Dict(), validate=_at_most_twenty, **kwargs)


class CreateConversation(RequestSchema):
    items = _items(allow_none=True)
    metadata = Metadata()


class ModifyConversation(RequestSchema):
    metadata = Metadata(required=True)


class CreateItems(RequestSchema):
    items = _items(required=True)
