from typing import Any

from marshmallow import ValidationError, fields, validate

from api.fields import Metadata, RequestSchema
from shared.items.wire import INCLUDABLE

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


def _include() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(INCLUDABLE)),
                       data_key="include[]", load_default=list)


class CreateConversation(RequestSchema):
    items = _items(allow_none=True)
    metadata = Metadata()


class ModifyConversation(RequestSchema):
    metadata = Metadata(required=True)


class CreateItems(RequestSchema):
    items = _items(required=True)


class IncludeArgs(RequestSchema):
    include = _include()


class ListItemsArgs(RequestSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    after = fields.String()
    include = _include()
