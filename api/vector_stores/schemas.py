from typing import Any

from marshmallow import ValidationError, fields, validate

from api.fields import ChunkingStrategy, ListArgs, Metadata, Number, RequestSchema

STATUSES = validate.OneOf(["in_progress", "completed", "failed", "cancelled"])
MAX_ATTRIBUTES = 16


class Attributes(fields.Dict):
    """Up to 16 pairs; keys up to 64 characters; values strings (512), numbers or booleans."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        if len(loaded) > MAX_ATTRIBUTES:
            raise ValidationError(f"Attributes can have at most {MAX_ATTRIBUTES} pairs.")
        for key, item in loaded.items():
            if len(key) > 64:
                raise ValidationError({key: ["Keys may have at most 64 characters."]})
            if isinstance(item, str):
                if len(item) > 512:
                    raise ValidationError({key: ["Strings may have at most 512 characters."]})
            elif not isinstance(item, bool | int | float):
                raise ValidationError({key: ["Must be a string, a number or a boolean."]})
        return loaded


class ExpiresAfter(RequestSchema):
    anchor = fields.String(required=True, validate=validate.OneOf(["last_active_at"]))
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=365))


class CreateVectorStore(RequestSchema):
    file_ids = fields.List(fields.String(), validate=validate.Length(max=500))
    name = fields.String(allow_none=True, validate=validate.Length(max=256))
    description = fields.String(allow_none=True, validate=validate.Length(max=512))
    expires_after = fields.Nested(ExpiresAfter, allow_none=True)
    chunking_strategy = ChunkingStrategy()
    metadata = Metadata()


class ModifyVectorStore(RequestSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=256))
    expires_after = fields.Nested(ExpiresAfter, allow_none=True)
    metadata = Metadata()


class CreateVectorStoreFile(RequestSchema):
    file_id = fields.String(required=True)
    chunking_strategy = ChunkingStrategy()
    attributes = Attributes(allow_none=True)


class UpdateAttributes(RequestSchema):
    attributes = Attributes(required=True, allow_none=True)


class CreateFileBatch(RequestSchema):
    file_ids = fields.List(fields.String(), validate=validate.Length(min=1, max=2000))
    files = fields.List(fields.Nested(CreateVectorStoreFile),
                        validate=validate.Length(min=1, max=2000))
    chunking_strategy = ChunkingStrategy()
    attributes = Attributes(allow_none=True)


class ListVectorStoreFilesArgs(ListArgs):
    filter = fields.String(validate=STATUSES)


_SCALAR = (str, int, float, bool)


class ComparisonFilter(RequestSchema):
    type = fields.String(required=True,
                         validate=validate.OneOf(["eq", "ne", "gt", "gte", "lt", "lte", "in",
                                                  "nin"]))
    key = fields.String(required=True)
    value = fields.Raw(required=True)

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        loaded = super().load(data, **kwargs)
        value = loaded["value"]
        if loaded["type"] in ("in", "nin"):
            if not isinstance(value, list) or not all(isinstance(v, str | int | float)
                                                      for v in value):
                raise ValidationError({"value": ["Must be an array of strings or numbers."]})
        elif not isinstance(value, _SCALAR):
            raise ValidationError({"value": ["Must be a string, a number or a boolean."]})
        return loaded


class Filter(fields.Field):
    """A comparison filter, or an and/or of filters, nested to any depth."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        if value.get("type") in ("and", "or"):
            extra = set(value) - {"type", "filters"}
            if extra:
                raise ValidationError({sorted(extra)[0]: ["Unknown field."]})
            filters = value.get("filters")
            if not isinstance(filters, list):
                raise ValidationError({"filters": ["Not a valid list."]})
            loaded = []
            for index, item in enumerate(filters):
                try:
                    loaded.append(self._deserialize(item, attr, data))
                except ValidationError as error:
                    raise ValidationError({"filters": {index: error.messages}}) from None
            return {"type": value["type"], "filters": loaded}
        return ComparisonFilter().load(value)


class RankingOptions(RequestSchema):
    ranker = fields.String(validate=validate.OneOf(["none", "auto", "default-2024-11-15"]))
    score_threshold = Number(validate=validate.Range(min=0, max=1))


class SearchQuery(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value.strip():
            return value
        if (isinstance(value, list) and value
                and all(isinstance(v, str) and v.strip() for v in value)):
            return value
        raise ValidationError("Must be a non-empty string or a non-empty list of strings.")


class Search(RequestSchema):
    query = SearchQuery(required=True)
    rewrite_query = fields.Boolean(load_default=False)
    max_num_results = fields.Integer(load_default=10, strict=True,
                                     validate=validate.Range(min=1, max=50))
    filters = Filter(allow_none=True)
    ranking_options = fields.Nested(RankingOptions)


