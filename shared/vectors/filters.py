"""OpenAI vector store search ``filters`` -> each engine's filter.

OpenAI's filters are a ComparisonFilter ``{"type": eq|ne|gt|gte|lt|lte|in|nin, "key",
"value"}`` or a CompoundFilter ``{"type": and|or, "filters": [...]}``, nested freely, over
the attributes of vector store files (string, number and boolean values).

`parse_filters` validates one into a small engine-neutral tree (raising `FilterError`, a
ValueError, naming what is wrong); `to_edge` and `to_client` turn a tree into a
``qdrant_edge.Filter`` or a ``qdrant_client.models.Filter``. `scope` adds the restriction
every search carries: vector_store_id any of the given ids (and file_id any of, if asked).

Filtering reads a typed copy of the attributes kept in the payload next to the verbatim
``attributes``: ``attr_index.s.<key>`` for strings, ``attr_index.n.<key>`` for numbers and
``attr_index.b.<key>`` for booleans stored as 0/1. Comparisons are therefore typed, as in
OpenAI: "5" does not equal 5, 1 does not equal true; 3 equals 3.0 (numbers are compared
as ranges, so integer and float payloads match alike). The boolean copy as 0/1 also works
around qdrant-edge-py 0.9.0, whose ``MatchValue(True)`` turns into the integer 1 and so
never matches a stored ``true``. Keys that are not plain identifiers (dots, spaces,
quotes...) are hex-encoded in the copy (`field_key`), so any key is safe in a JSON path.

Semantics: ``ne`` and ``nin`` also match chunks that lack the attribute (as MongoDB's
``$ne``); ``gt``/``gte``/``lt``/``lte`` take numbers only; ``in``/``nin`` take a non-empty
array of strings and numbers; ``and``/``or`` take a non-empty array.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ATTR_INDEX = "attr_index"
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
COMPOUNDS = frozenset({"and", "or"})
MAX_DEPTH = 16


class FilterError(ValueError):
    """An invalid ``filters`` object; ``param`` is the JSON path of the offending part."""

    def __init__(self, message: str, param: str = "filters") -> None:
        super().__init__(f"{message} ({param})")
        self.param = param


# --- the neutral tree ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    value: str | int


@dataclass(frozen=True, slots=True)
class AnyOf:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond


Cond = Match | AnyOf | Range | And | Or | Not


# --- payload side -------------------------------------------------------------------------


def field_key(key: str) -> str:
    """The payload-path segment for attribute ``key``: itself, or ``_`` + hex of UTF-8."""
    if _PLAIN_KEY.fullmatch(key):
        return key
    return "_" + key.encode("utf-8").hex()


def typed_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``attr_index`` payload value for a chunk's attributes."""
    typed: dict[str, dict[str, Any]] = {"s": {}, "n": {}, "b": {}}
    for key, value in attributes.items():
        if isinstance(value, bool):
            typed["b"][field_key(key)] = int(value)
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"attribute {key!r} is not a finite number")
            typed["n"][field_key(key)] = value
        elif isinstance(value, str):
            typed["s"][field_key(key)] = value
        else:
            raise ValueError(f"attribute {key!r} must be a string, number or boolean")
    return typed


_INDEX_KINDS = {"s": "keyword", "n": "float", "b": "integer"}


def index_fields(attributes: Mapping[str, Any]) -> dict[str, str]:
    """Payload paths of the typed copy of ``attributes`` -> the payload index each wants
    (``keyword``, ``float`` or ``integer``)."""
    return {
        f"{ATTR_INDEX}.{kind}.{key}": _INDEX_KINDS[kind]
        for kind, values in typed_attributes(attributes).items()
        for key in values
    }


def _path(kind: str, key: str) -> str:
    return f"{ATTR_INDEX}.{kind}.{field_key(key)}"


# --- parsing ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _equals(key: str, value: Any, param: str) -> Cond:
    if isinstance(value, bool):
        return Match(_path("b", key), int(value))
    if isinstance(value, str):
        return Match(_path("s", key), value)
    if _is_number(value):
        return Range(_path("n", key), gte=float(value), lte=float(value))
    raise FilterError("value must be a string, a number or a boolean", f"{param}.value")


def _comparison(obj: Mapping[str, Any], op: str, param: str) -> Cond:
    key = obj.get("key")
    if not isinstance(key, str) or not key:
        raise FilterError("key must be a non-empty string", f"{param}.key")
    if "value" not in obj:
        raise FilterError("value is required", f"{param}.value")
    value = obj["value"]
    if op == "eq":
        return _equals(key, value, param)
    if op == "ne":
        return Not(_equals(key, value, param))
    if op in ("in", "nin"):
        if not isinstance(value, list | tuple) or not value:
            raise FilterError(f"'{op}' takes a non-empty array", f"{param}.value")
        if any(isinstance(v, bool) or not (isinstance(v, str) or _is_number(v)) for v in value):
            raise FilterError(f"'{op}' takes strings and numbers", f"{param}.value")
        strings = tuple(v for v in value if isinstance(v, str))
        items: list[Cond] = [AnyOf(_path("s", key), strings)] if strings else []
        items += [_equals(key, v, param) for v in value if not isinstance(v, str)]
        cond: Cond = items[0] if len(items) == 1 else Or(tuple(items))
        return cond if op == "in" else Not(cond)
    if not _is_number(value):
        raise FilterError(f"'{op}' compares numbers", f"{param}.value")
    return Range(_path("n", key), **{op: float(value)})


def parse_filters(obj: Any, param: str = "filters", _depth: int = 0) -> Cond:
    """Validate an OpenAI ``filters`` object into the neutral tree."""
    if _depth > MAX_DEPTH:
        raise FilterError(f"filters nest deeper than {MAX_DEPTH}", param)
    if not isinstance(obj, Mapping):
        raise FilterError("a filter must be an object", param)
    op = obj.get("type")
    if op in COMPARISONS:
        return _comparison(obj, op, param)
    if op in COMPOUNDS:
        subs = obj.get("filters")
        if not isinstance(subs, list) or not subs:
            raise FilterError(f"'{op}' takes a non-empty array", f"{param}.filters")
        items = tuple(
            parse_filters(sub, f"{param}.filters[{i}]", _depth + 1) for i, sub in enumerate(subs)
        )
        return And(items) if op == "and" else Or(items)
    expected = ", ".join(sorted(COMPARISONS | COMPOUNDS))
    raise FilterError(f"type must be one of {expected}", f"{param}.type")


def scope(
    vector_store_ids: Iterable[str],
    filters: Mapping[str, Any] | Cond | None = None,
    file_ids: Sequence[str] | None = None,
) -> Cond:
    """Every search's condition: its vector stores, optionally files, and the user filter."""
    if isinstance(vector_store_ids, str) or isinstance(file_ids, str):
        raise TypeError("vector_store_ids and file_ids are sequences of ids, not one id")
    items: list[Cond] = [AnyOf("vector_store_id", tuple(vector_store_ids))]
    if file_ids is not None:
        items.append(AnyOf("file_id", tuple(file_ids)))
    if filters is not None:
        items.append(parse_filters(filters) if isinstance(filters, Mapping) else filters)
    return And(tuple(items))


# --- engines ------------------------------------------------------------------------------


def to_edge(cond: Cond) -> Any:
    """A ``qdrant_edge.Filter`` for ``cond``."""
    import qdrant_edge as e

    def condition(c: Cond) -> Any:
        if isinstance(c, Match):
            return e.FieldCondition(key=c.key, match=e.MatchValue(c.value))
        if isinstance(c, AnyOf):
            return e.FieldCondition(key=c.key, match=e.MatchAny(list(c.values)))
        if isinstance(c, Range):
            return e.FieldCondition(
                key=c.key, range=e.RangeFloat(gt=c.gt, gte=c.gte, lt=c.lt, lte=c.lte)
            )
        return to_filter(c)

    def to_filter(c: Cond) -> Any:
        if isinstance(c, And):
            return e.Filter(must=[condition(i) for i in c.items])
        if isinstance(c, Or):
            return e.Filter(should=[condition(i) for i in c.items])
        if isinstance(c, Not):
            return e.Filter(must_not=[condition(c.item)])
        return e.Filter(must=[condition(c)])

    return to_filter(cond)


def to_client(cond: Cond) -> Any:
    """A ``qdrant_client.models.Filter`` for ``cond``."""
    from qdrant_client import models as m

    def condition(c: Cond) -> Any:
        if isinstance(c, Match):
            return m.FieldCondition(key=c.key, match=m.MatchValue(value=c.value))
        if isinstance(c, AnyOf):
            return m.FieldCondition(key=c.key, match=m.MatchAny(any=list(c.values)))
        if isinstance(c, Range):
            return m.FieldCondition(
                key=c.key, range=m.Range(gt=c.gt, gte=c.gte, lt=c.lt, lte=c.lte)
            )
        return to_filter(c)

    def to_filter(c: Cond) -> Any:
        if isinstance(c, And):
            return m.Filter(must=[condition(i) for i in c.items])
        if isinstance(c, Or):
            return m.Filter(should=[condition(i) for i in c.items])
        if isinstance(c, Not):
            return m.Filter(must_not=[condition(c.item)])
        return m.Filter(must=[condition(c)])

    return to_filter(cond)
