"""Request fields shared by several resources: metadata, tools, tool_resources, lists."""
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.errors import json_type_name
from shared.items.wire import INCLUDABLE
from shared.storage.pagination import PageQuery


def _unstorable(value: Any) -> str | None:
    """Why Postgres could not store this string (NUL or unpaired surrogate), if it cannot."""
    if "\x00" in value:
        return "Strings may not contain NUL (\\u0000) characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Strings may not contain unpaired surrogates."
    return None


def _find_unstorable(node: Any) -> Any:
    """Nested error messages leading to the first unstorable string, or None."""
    if isinstance(node, str):
        reason = _unstorable(node)
        return [reason] if reason else None
    if isinstance(node, dict):
        for key, value in node.items():
            found = _find_unstorable(key) or _find_unstorable(value)
            if found:
                return {key: found}
    if isinstance(node, list):
        for index, value in enumerate(node):
            found = _find_unstorable(value)
            if found:
                return {index: found}
    return None


class RequestSchema(Schema):
    """Base of every request schema: refuses, naming the field, what storage cannot hold."""

    @pre_load
    def _refuse_unstorable(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            found = _find_unstorable(dict(data))
            if found:
                raise ValidationError(found)
        return data


class Number(fields.Float):
    """A JSON number; unlike marshmallow's Float, numeric strings and booleans are refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Metadata(fields.Dict):
    """At most 16 pairs; keys up to 64 characters, values up to 512. Null means empty."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            keys=fields.String(validate=validate.Length(max=64)),
            values=fields.String(validate=validate.Length(max=512)),
            validate=validate.Length(max=16, error="Metadata can have at most {max} pairs."),
            allow_none=True,
            **kwargs,
        )

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None,
                    **kwargs: Any) -> Any:
        # OpenAI treats null metadata as "no pairs"; storing {} keeps one meaning.
        if value is None:
            return {}
        return super().deserialize(value, attr, data, **kwargs)


class Tagged(fields.Field):
    """A JSON object whose `type` picks the schema that loads it."""

    def __init__(self, schemas: dict[str, type[Schema]], **kwargs: Any):
        super().__init__(**kwargs)
        self.schemas = schemas

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        if "type" not in value:
            raise ValidationError({"type": ["Missing data for required field."]})
        kind = value.get("type")
        allowed = ", ".join(f"'{name}'" for name in self.schemas)
        # Checked before the lookup: an object or array `type` is unhashable.
        if not isinstance(kind, str):
            raise ValidationError({"type": [
                f"Invalid type: expected a string, but got {json_type_name(kind)}. "
                f"Supported values are: {allowed}."]})
        if kind not in self.schemas:
            raise ValidationError(
                {"type": [f"Invalid value: '{kind}'. Supported values are: {allowed}."]}
            )
        return self.schemas[kind]().load(value)


class StringOr(fields.Field):
    """Either one of a few fixed strings or a value loaded by another field."""

    def __init__(self, strings: tuple[str, ...], other: fields.Field, **kwargs: Any):
        super().__init__(**kwargs)
        self.strings = strings
        self.other = other

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if value not in self.strings:
                raise ValidationError(f"Must be one of: {', '.join(self.strings)}.")
            return value
        return self.other.deserialize(value, attr, data, **kwargs)


class FunctionDefinition(RequestSchema):
    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-zA-Z0-9_-]{1,64}$",
            error="Must be 1 to 64 characters of a-z, A-Z, 0-9, underscores and dashes.",
        ),
    )
    description = fields.String()
    parameters = fields.Dict()
    strict = fields.Boolean(allow_none=True)


class FunctionTool(RequestSchema):
    type = fields.String(required=True)
    function = fields.Nested(FunctionDefinition, required=True)


class CodeInterpreterTool(RequestSchema):
    type = fields.String(required=True)


class RankingOptions(RequestSchema):
    ranker = fields.String(validate=validate.OneOf(["auto", "default_2024_08_21"]))
    score_threshold = Number(required=True, validate=validate.Range(min=0, max=1))


class FileSearchSettings(RequestSchema):
    max_num_results = fields.Integer(validate=validate.Range(min=1, max=50), strict=True)
    ranking_options = fields.Nested(RankingOptions)


class FileSearchTool(RequestSchema):
    type = fields.String(required=True)
    file_search = fields.Nested(FileSearchSettings)


TOOL_SCHEMAS: dict[str, type[Schema]] = {
    "code_interpreter": CodeInterpreterTool,
    "file_search": FileSearchTool,
    "function": FunctionTool,
}


def Tools(**kwargs: Any) -> fields.List:
    return fields.List(Tagged(TOOL_SCHEMAS), validate=validate.Length(max=128), **kwargs)


class JsonSchemaFormat(RequestSchema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-zA-Z0-9_-]{1,64}$"))
    description = fields.String()
    schema = fields.Dict()
    strict = fields.Boolean(allow_none=True)


class TextFormat(RequestSchema):
    type = fields.String(required=True)


class JsonSchemaResponseFormat(RequestSchema):
    type = fields.String(required=True)
    json_schema = fields.Nested(JsonSchemaFormat, required=True)


def ResponseFormat(**kwargs: Any) -> StringOr:
    return StringOr(
        ("auto",),
        Tagged({
            "text": TextFormat,
            "json_object": TextFormat,
            "json_schema": JsonSchemaResponseFormat,
        }),
        allow_none=True,
        **kwargs,
    )


class StaticChunking(RequestSchema):
    max_chunk_size_tokens = fields.Integer(
        required=True, validate=validate.Range(min=100, max=4096), strict=True
    )
    chunk_overlap_tokens = fields.Integer(required=True, validate=validate.Range(min=0),
                                          strict=True)


    @validates_schema
    def _overlap_at_most_half(self, data: dict[str, Any], **kwargs: Any) -> None:
        size, overlap = data.get("max_chunk_size_tokens"), data.get("chunk_overlap_tokens")
        if size is not None and overlap is not None and overlap > size // 2:
            raise ValidationError("Must not exceed half of max_chunk_size_tokens.",
                                  "chunk_overlap_tokens")


class AutoChunkingStrategy(RequestSchema):
    type = fields.String(required=True)


class StaticChunkingStrategy(RequestSchema):
    type = fields.String(required=True)
    static = fields.Nested(StaticChunking, required=True)


def ChunkingStrategy(**kwargs: Any) -> Tagged:
    return Tagged({"auto": AutoChunkingStrategy, "static": StaticChunkingStrategy}, **kwargs)


class VectorStoreHelper(RequestSchema):
    file_ids = fields.List(fields.String())
    chunking_strategy = ChunkingStrategy()
    metadata = Metadata()


class CodeInterpreterResources(RequestSchema):
    file_ids = fields.List(fields.String(), validate=validate.Length(max=20))


class FileSearchResources(RequestSchema):
    vector_store_ids = fields.List(fields.String(), validate=validate.Length(max=1))
    vector_stores = fields.List(fields.Nested(VectorStoreHelper), validate=validate.Length(max=1))


class ToolResources(RequestSchema):
    code_interpreter = fields.Nested(CodeInterpreterResources)
    file_search = fields.Nested(FileSearchResources)


REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class ListArgs(RequestSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    after = fields.String()
    before = fields.String()


def page_query(args: dict[str, Any]) -> PageQuery:
    return PageQuery(
        limit=args["limit"], order=args["order"],
        after=args.get("after"), before=args.get("before"),
    )


def item_include() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(INCLUDABLE)),
                       data_key="include[]", load_default=list)


class ItemIncludeArgs(RequestSchema):
    """`include[]` of the Responses API's items (a conversation's, a response's)."""
    include = item_include()


class ListItemsArgs(RequestSchema):
    """A page of a conversation's or a response's items."""
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    order = fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
    after = fields.String()
    include = item_include()
